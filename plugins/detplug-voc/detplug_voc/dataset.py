"""``VOCDataset``: the Pascal VOC layout, one or several roots (DATASETS, scope ``voc``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from detplug_torchvision.datasets import (
    CleanupReport,
    DetectionDataset,
    ImageRecord,
    check_choice,
    read_image_size,
)
from detplug_torchvision.datasets.records import StringColumn

from detplug_core.errors import BuildError, DataError
from detplug_voc.layout import ImageFolder, auto_split
from detplug_voc.registries import DATASETS
from detplug_voc.segmentation_object import (
    check_size,
    count_object_pixels,
    object_masks,
    read_object_png,
)
from detplug_voc.voc_xml import VOC_CLASSES, VocFile, is_zero_area, parse_voc_xml, read_split

__all__ = ["VOC_CLASSES", "VOCDataset"]


def _as_list(value: str | os.PathLike | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return [os.fspath(value)]
    return [os.fspath(v) for v in value]


def _split_ids(
    root: str, ann_root: str, split: str, ratio: float, seed: int
) -> tuple[list[str], bool]:
    """``(ids, seeded)`` of ``split``: ``ImageSets/Main/<split>.txt``; else, for ``train``
    and ``val`` with only ``trainval.txt`` there, a seeded split of its ids; else, without
    ``ImageSets``, a seeded split of the XML files."""
    main = os.path.join(root, "ImageSets", "Main")
    split_file = os.path.join(main, f"{split}.txt")
    trainval = os.path.join(main, "trainval.txt")
    if os.path.isfile(split_file):
        return read_split(split_file), False
    if split in ("train", "val") and os.path.isfile(trainval):
        return auto_split(ann_root, split, ratio, seed, ids=read_split(trainval)), True
    if os.path.isdir(os.path.join(root, "ImageSets")):
        return read_split(split_file), False  # the missing file's error
    return auto_split(ann_root, split, ratio, seed), True


def _check_some_image_exists(records: list[ImageRecord], roots: list[str], img_dir: str) -> None:
    """Not one image where the annotations say: the image folder is wrong, and leaving the
    missing images out (on_missing_image: skip) would leave nothing; say what fixes it."""
    if not records or any(os.path.isfile(r.path) for r in records):
        return
    folders = ", ".join(f"'{os.path.normpath(os.path.join(r, img_dir))}'" for r in roots)
    raise DataError(
        f"VOCDataset: none of the {len(records)} images is in {folders} (first: "
        f"'{records[0].path}', for {records[0].source}); the images are in another folder: "
        "set img_dir (relative to data_root, or absolute), or with --data give "
        "--data-images DIR"
    )


@DATASETS.register()
class VOCDataset(DetectionDataset):
    """Pascal VOC: ``<root>/Annotations/<id>.xml``, ``ImageSets/Main/<split>.txt``,
    ``JPEGImages/<id>.jpg``.

    * ``data_root`` (one root) or ``data_roots`` (several, concatenated in order: the
      classic VOC2007 + VOC2012); ``split`` is one name for all roots or one per root.
    * ``classes``: label i is ``classes[i]``; default the 20 VOC classes.
    * ``difficult`` objects are kept with ``ignore=True``.
    * An object of a class not in ``classes``: ``on_unknown_class: error`` (DataError naming
      the file and the class) or ``skip`` (left out, counted in the summary).
    * Zero-area boxes in the file are dropped; boxes are clipped, empty ones dropped; one
      summary line is logged at construction. Missing images: ``on_missing_image``.
    * ``image_id`` is the running index over all roots; ``file_name`` the image file name.
    * Layouts as people have them: ``ann_dir`` / ``img_dir`` name the two folders (``.`` for
      the root itself); a root without ``ImageSets`` is split by a seeded shuffle of its XML
      files (``split: train`` gets ``split_ratio`` of them, ``val`` the rest, ``trainval``
      all), recorded in ``auto_splits`` (and by the runner in the work dir). The image is
      ``<id>`` with ``img_suffix`` or any image suffix in any case, else the XML's
      ``<filename>``; a ``<filename>`` that disagrees with the file used is counted (INFO).
    * ``on_bad_image``: ``error`` or ``skip`` for image files that cannot be decoded, found
      by decoding each image once at construction (``scan_images: false`` skips the scan).
    * ``exif_orientation``: apply EXIF orientation tags (images as displayed); default true.
    * ``with_masks: true`` adds instance masks from ``<root>/<mask_dir>/<id>.png``
      (``SegmentationObject``: pixel value k is the k-th XML object, 255 the void band,
      which belongs to no object; see ``segmentation_object``). An image without that PNG:
      ``on_missing_mask: error`` (a DataError naming the first) or ``skip`` (the image is
      left out, counted). The PNGs are read at construction: a PNG whose size is not the
      image's is a DataError naming it; an object without a pixel in it is dropped, counted.
    """

    def __init__(
        self,
        data_root: str | Sequence[str] | None = None,
        split: str | Sequence[str] = "trainval",
        classes: Sequence[str] | None = None,
        transforms: Sequence[dict] | Any = None,
        filter_empty: bool = False,
        on_missing_image: str = "error",
        on_unknown_class: str = "error",
        on_bad_image: str = "error",
        scan_images: bool = True,
        exif_orientation: bool = True,
        data_roots: Sequence[str] | None = None,
        img_suffix: str = ".jpg",
        ann_dir: str = "Annotations",
        img_dir: str = "JPEGImages",
        split_ratio: float = 0.8,
        split_seed: int = 0,
        with_masks: bool = False,
        mask_dir: str = "SegmentationObject",
        on_missing_mask: str = "error",
    ) -> None:
        name = type(self).__name__
        self.exif_orientation = bool(exif_orientation)
        check_choice(name, "on_missing_image", on_missing_image, ("error", "skip"))
        check_choice(name, "on_unknown_class", on_unknown_class, ("error", "skip"))
        check_choice(name, "on_missing_mask", on_missing_mask, ("error", "skip"))
        self.with_masks = bool(with_masks)
        if (data_root is None) == (data_roots is None):
            raise BuildError(f"{name}: give exactly one of data_root and data_roots")
        self.data_roots = _as_list(data_root if data_root is not None else data_roots)
        splits = _as_list(split)
        if len(splits) == 1:
            splits = splits * len(self.data_roots)
        if len(splits) != len(self.data_roots) or not self.data_roots:
            raise BuildError(f"{name}: {len(splits)} splits for {len(self.data_roots)} roots")
        self.splits = splits
        super().__init__(VOC_CLASSES if classes is None else classes, transforms)
        self.img_suffix = img_suffix
        self.ann_dir, self.img_dir = ann_dir, img_dir
        if not 0.0 < split_ratio < 1.0:
            raise BuildError(f"{name}: split_ratio must be between 0 and 1, got {split_ratio}")
        self.auto_splits: list[dict] = []
        self.on_unknown_class = on_unknown_class
        self._label_of = {c: i for i, c in enumerate(self.classes)}

        report = CleanupReport(f"{name}({', '.join(self._describe_roots())})")
        records: list[ImageRecord] = []
        mask_paths: list[str] = []
        for root, split_name in zip(self.data_roots, self.splits, strict=True):
            ann_root = os.path.normpath(os.path.join(root, ann_dir))
            keys, seeded = _split_ids(root, ann_root, split_name, split_ratio, split_seed)
            if seeded:
                self.auto_splits.append(
                    {
                        "root": os.path.abspath(root),
                        "split": split_name,
                        "ratio": split_ratio,
                        "seed": split_seed,
                        "ids": keys,
                    }  # fmt: skip
                )
            folder = ImageFolder(os.path.normpath(os.path.join(root, img_dir)))
            mask_root = os.path.normpath(os.path.join(root, mask_dir))
            for image_key in keys:
                xml = parse_voc_xml(os.path.join(ann_root, f"{image_key}.xml"))
                path = folder.find(image_key, img_suffix, xml.filename)
                mask_path = os.path.join(mask_root, f"{image_key}.png")
                if self.with_masks and not os.path.isfile(mask_path):
                    if on_missing_mask == "error":
                        raise DataError(
                            f"{name}: with_masks: true but '{mask_path}' does not exist (the "
                            f"instance masks of {xml.path}); VOC has them for the images of "
                            "ImageSets/Segmentation only: set on_missing_mask: skip to leave "
                            "the others out, or mask_dir"
                        )
                    report.add(
                        "images without a SegmentationObject PNG left out (on_missing_mask: skip)",
                        mask_path,
                        dirty=False,
                    )
                    continue
                if xml.filename and os.path.basename(path) != xml.filename:
                    report.add(
                        "XML <filename> differs from the image file used",
                        f"{xml.path}: <filename> {xml.filename}, used {os.path.basename(path)}",
                        dirty=False,
                    )
                records.append(self._record(path, xml, len(records), report, mask_path))
                mask_paths.append(mask_path)
        _check_some_image_exists(records, self.data_roots, img_dir)
        self.mask_paths = StringColumn(mask_paths if self.with_masks else [])
        self._setup(
            records,
            report,
            filter_empty=filter_empty,
            on_missing_image=on_missing_image,
            on_bad_image=on_bad_image,
            scan_images=scan_images,
        )

    def _describe_roots(self) -> list[str]:
        return [f"{r} {s}" for r, s in zip(self.data_roots, self.splits, strict=True)]

    def load_masks(self, index: int, record: ImageRecord) -> np.ndarray:
        """The record's objects' pixels in its SegmentationObject PNG (uint8 [K, H, W])."""
        path = self.mask_paths[record.image_id]
        indices = read_object_png(path, self.describe(index))
        check_size(indices.shape, (record.height, record.width), path, self.describe(index))
        return object_masks(indices, record.ann_index)

    def _object_pixels(self, mask_path: str, xml: VocFile, size: tuple[int, int]) -> np.ndarray:
        """How many pixels each object index covers in the image's PNG (int64 [256])."""
        found, pixels = count_object_pixels(mask_path, xml.path)
        if all(size):
            check_size(found, size, mask_path, xml.path)
        return pixels

    def _record(
        self, path: str, xml: VocFile, image_id: int, report: CleanupReport, mask_path: str
    ) -> ImageRecord:
        label_of = self._label_of
        height, width = xml.height, xml.width
        if not (height and width) and os.path.isfile(path):
            height, width = read_image_size(path, xml.path, exif_orientation=self.exif_orientation)
        pixels = self._object_pixels(mask_path, xml, (height, width)) if self.with_masks else None
        boxes, labels, ignore, objects = [], [], [], []
        for obj in xml.objects:
            if obj.name not in label_of:
                if self.on_unknown_class == "error":
                    raise DataError(
                        f"{xml.path}: object {obj.index} has unknown class {obj.name!r}; "
                        f"classes: {self.classes}. Set classes, or on_unknown_class: skip"
                    )
                report.add(
                    "objects of unknown classes skipped",
                    f"{xml.path} object {obj.index} ({obj.name})",
                )
                continue
            if is_zero_area(obj):
                report.add(
                    "zero-area boxes dropped",
                    f"{xml.path} object {obj.index} ({obj.name}) {obj.file_box}",
                )
                continue
            if pixels is not None and (obj.index + 1 >= 255 or not pixels[obj.index + 1]):
                report.add(
                    "objects without a pixel in their SegmentationObject PNG dropped",
                    f"{mask_path} (object {obj.index} of {xml.path}, {obj.name})",
                )
                continue
            boxes.append(obj.box)
            labels.append(label_of[obj.name])
            ignore.append(obj.difficult)
            objects.append(obj.index)
        return ImageRecord(
            path=path,
            file_name=os.path.basename(path),
            image_id=image_id,
            height=height,
            width=width,
            boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            labels=np.asarray(labels, dtype=np.int64),
            ignore=np.asarray(ignore, dtype=bool),
            source=xml.path,
            ann_index=np.asarray(objects, dtype=np.int64),
        )
