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

from detplug_core.errors import BuildError, DataError
from detplug_voc.registries import DATASETS
from detplug_voc.voc_xml import VOC_CLASSES, VocFile, is_zero_area, parse_voc_xml, read_split

__all__ = ["VOC_CLASSES", "VOCDataset"]


def _as_list(value: str | os.PathLike | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return [os.fspath(value)]
    return [os.fspath(v) for v in value]


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
    * ``on_bad_image``: ``error`` or ``skip`` for image files that cannot be decoded, found
      by decoding each image once at construction (``scan_images: false`` skips the scan).
    * ``exif_orientation``: apply EXIF orientation tags (images as displayed); default true.
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
    ) -> None:
        name = type(self).__name__
        self.exif_orientation = bool(exif_orientation)
        check_choice(name, "on_missing_image", on_missing_image, ("error", "skip"))
        check_choice(name, "on_unknown_class", on_unknown_class, ("error", "skip"))
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
        self.on_unknown_class = on_unknown_class
        self._label_of = {c: i for i, c in enumerate(self.classes)}

        report = CleanupReport(f"{name}({', '.join(self._describe_roots())})")
        records: list[ImageRecord] = []
        for root, split_name in zip(self.data_roots, self.splits, strict=True):
            split_file = os.path.join(root, "ImageSets", "Main", f"{split_name}.txt")
            for image_key in read_split(split_file):
                xml = parse_voc_xml(os.path.join(root, "Annotations", f"{image_key}.xml"))
                records.append(self._record(root, image_key, xml, len(records), report))
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

    def _image_path(self, root: str, image_key: str, xml: VocFile) -> str:
        path = os.path.join(root, "JPEGImages", image_key + self.img_suffix)
        if not os.path.isfile(path) and xml.filename:
            alternative = os.path.join(root, "JPEGImages", xml.filename)
            if os.path.isfile(alternative):
                return alternative
        return path

    def _record(
        self, root: str, image_key: str, xml: VocFile, image_id: int, report: CleanupReport
    ) -> ImageRecord:
        label_of = self._label_of
        boxes, labels, ignore = [], [], []
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
            boxes.append(obj.box)
            labels.append(label_of[obj.name])
            ignore.append(obj.difficult)
        path = self._image_path(root, image_key, xml)
        height, width = xml.height, xml.width
        if not (height and width) and os.path.isfile(path):
            height, width = read_image_size(path, xml.path, exif_orientation=self.exif_orientation)
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
        )
