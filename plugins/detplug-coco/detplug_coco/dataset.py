"""``CocoDataset``: a COCO-format JSON file and its image folder (DATASETS, scope ``coco``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from detplug_torchvision.datasets import (
    CleanupReport,
    DetectionDataset,
    ImageRecord,
    NumberedColumn,
    RecordStore,
    check_choice,
    read_image_size,
)

from detplug_coco.coco_columns import CocoColumns, read_coco_columns
from detplug_coco.coco_json import label_mapping, load_json
from detplug_coco.coco_segments_read import read_segments
from detplug_coco.registries import DATASETS
from detplug_coco.segment_cleanup import clean_segments
from detplug_core.errors import DataError

__all__ = ["CocoDataset"]


def _labels_of(cat_ids: np.ndarray, label_to_cat_id: list[int]) -> np.ndarray:
    """The label of each category id (int64), -1 for categories not in the classes."""
    known = np.asarray(label_to_cat_id, np.int64)
    if not len(known):
        return np.full(len(cat_ids), -1, np.int64)
    order = np.argsort(known)
    at = np.minimum(np.searchsorted(known[order], cat_ids), len(known) - 1)
    return np.where(known[order][at] == cat_ids, order[at], -1).astype(np.int64)


@DATASETS.register()
class CocoDataset(DetectionDataset):
    """Detection dataset over a COCO JSON file (``images``, ``annotations``, ``categories``).

    * Labels are contiguous: category ids sorted ascending map to 0..C-1 (``classes`` are
      their names), or ``classes: [names]`` selects categories and fixes their order;
      annotations of other categories are left out. ``label_to_cat_id[label]`` maps back.
    * ``iscrowd: 1`` annotations become boxes with ``ignore=True``.
    * Boxes are clipped to the image; empty ones (zero area, outside) are dropped and
      counted in the one-line summary logged at construction.
    * ``filter_empty``: leave out images without any non-ignored box (training sets).
    * ``on_missing_image``: ``error`` (DataError naming the file) or ``skip`` (counted).
    * ``on_unknown_class``: an annotation whose ``category_id`` is not in ``categories`` is
      an ``error`` naming it, or ``skip`` ped and counted.
    * ``data_root``: when given, relative ``ann_file``/``img_dir`` are resolved against it.
    * ``on_bad_image``: ``error`` or ``skip`` for image files that cannot be decoded, found
      by the scan at construction, paid once per file (cached by path, size and mtime):
      ``scan_images: true`` checks that each JPEG/PNG is complete (decoding the others and
      any file in doubt), ``decode`` decodes every file, ``false`` skips the scan.
    * ``exif_orientation``: apply EXIF orientation tags (images as displayed); default true.
    * ``with_masks``: each annotation's ``segmentation`` (polygons, compressed or
      uncompressed RLE) becomes its box's instance mask, ``target["masks"]`` (a
      ``tv_tensors.Mask`` uint8 [K, H, W], crowd regions included), decoded with
      pycocotools when the sample loads. Masks that cannot be made are dropped with their
      box and counted (``segment_cleanup``).
    """

    def __init__(
        self,
        ann_file: str,
        img_dir: str,
        transforms: Sequence[dict] | Any = None,
        filter_empty: bool = False,
        classes: Sequence[str] | None = None,
        on_missing_image: str = "error",
        on_unknown_class: str = "error",
        on_bad_image: str = "error",
        scan_images: bool = True,
        exif_orientation: bool = True,
        data_root: str | None = None,
        with_masks: bool = False,
    ) -> None:
        name = type(self).__name__
        self.exif_orientation = bool(exif_orientation)
        check_choice(name, "on_missing_image", on_missing_image, ("error", "skip"))
        check_choice(name, "on_unknown_class", on_unknown_class, ("error", "skip"))
        if data_root is not None:
            ann_file = os.path.join(data_root, ann_file)
            img_dir = os.path.join(data_root, img_dir)
        self.ann_file, self.img_dir = str(ann_file), str(img_dir)
        self.with_masks = bool(with_masks)

        data = load_json(self.ann_file)
        columns = read_coco_columns(data, self.ann_file, on_unknown_class)
        # the parsed file is the largest thing built here: only the masks read it further
        annotations = (data.get("annotations") or []) if self.with_masks else None
        del data
        names, self.label_to_cat_id = label_mapping(columns.categories, classes, self.ann_file)
        super().__init__(names, transforms)
        self.cat_id_to_label = {c: i for i, c in enumerate(self.label_to_cat_id)}

        report = CleanupReport(f"{name}({self.ann_file})")
        for where, cat_id in columns.unknown_category:
            report.add("annotations of unknown category ids skipped", f"{where}: {cat_id}")
        records = self._records(columns, report, annotations)
        del annotations, columns
        self._setup(
            records,
            report,
            filter_empty=filter_empty,
            on_missing_image=on_missing_image,
            on_bad_image=on_bad_image,
            scan_images=scan_images,
        )

    def _records(
        self, columns: CocoColumns, report: CleanupReport, annotations: list | None
    ) -> RecordStore:
        """The images of ``columns`` as records: annotations grouped by image (file order),
        categories mapped to labels (others left out and counted), sizes read from the
        image headers where the file gives none; with ``annotations`` (the file's list,
        ``with_masks``), their segmentations kept and cleaned (``self._segments``)."""
        order = np.argsort(columns.ann_image, kind="stable")
        labels = _labels_of(columns.cat_ids, self.label_to_cat_id)
        selected = labels[order] >= 0
        owner = columns.ann_image[order]
        if not selected.all():
            left_out = np.bincount(owner[~selected], minlength=len(columns.file_names))
            first = int(np.flatnonzero(left_out)[0])
            report.add(
                "annotations of categories not in classes left out",
                columns.file_names[first],
                int(left_out.sum()),
                dirty=False,
            )
        rows = order[selected]
        folder = os.path.join(self.img_dir, "")  # os.path.join's result, without a call each
        paths = [f if f.startswith("/") else folder + f for f in columns.file_names]
        sources = NumberedColumn(f"{self.ann_file} image_id ", columns.image_ids)
        heights, widths = columns.heights.copy(), columns.widths.copy()
        for i in np.flatnonzero((heights == 0) | (widths == 0)):
            if os.path.isfile(paths[i]):
                heights[i], widths[i] = read_image_size(
                    paths[i], sources[i], exif_orientation=self.exif_orientation
                )
        self._segments = None
        if annotations is not None:
            rows = self._read_segments(columns, rows, annotations, heights, widths, report)
        box_start = np.zeros(len(columns.file_names) + 1, np.int64)
        np.cumsum(
            np.bincount(columns.ann_image[rows], minlength=len(columns.file_names)),
            out=box_start[1:],
        )
        if annotations is not None:  # image id -> its first annotation's segmentation
            self._segment_start = box_start
            self._image_order = np.argsort(columns.image_ids, kind="stable")
            self._sorted_image_ids = columns.image_ids[self._image_order]
        return RecordStore(
            paths=paths,
            file_names=columns.file_names,
            sources=sources,
            image_ids=columns.image_ids,
            heights=heights,
            widths=widths,
            box_start=box_start,
            boxes=columns.boxes[rows],
            labels=labels[rows],
            ignore=columns.crowd[rows],
        )

    def _read_segments(
        self,
        columns: CocoColumns,
        rows: np.ndarray,
        annotations: list,
        heights: np.ndarray,
        widths: np.ndarray,
        report: CleanupReport,
    ) -> np.ndarray:
        """Keep the segmentations of the annotations ``rows`` (cleaned and counted); the
        rows whose masks can be made."""
        positions = columns.ann_pos[rows]
        store = read_segments(annotations, positions, self.ann_file)

        def name(m: int) -> str:
            pos = int(positions[m])
            return f"{self.ann_file} annotations[{pos}] (id {annotations[pos].get('id')})"

        image = columns.ann_image[rows]
        self._segments, keep = clean_segments(
            store, heights[image], widths[image], report, name, self.ann_file
        )
        return rows[keep]

    def load_masks(self, index: int, record: ImageRecord) -> np.ndarray:
        """The masks of ``record``'s boxes (uint8 [K, H, W]) from their annotations'
        segmentations: the image's annotations as built, at ``record.ann_index``."""
        if self._segments is None:
            raise DataError(
                f"{self.describe(index)}: {type(self).__name__} was built without "
                "with_masks: true, so it kept no segmentation"
            )
        at = int(np.searchsorted(self._sorted_image_ids, record.image_id))
        first = self._segment_start[self._image_order[at]]
        return self._segments.masks(first + record.ann_index, record.height, record.width)
