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
    check_choice,
    read_image_size,
)

from detplug_coco.coco_json import as_arrays, label_mapping, load_json, parse_coco
from detplug_coco.registries import DATASETS

__all__ = ["CocoDataset"]


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
      by decoding each image once at construction (``scan_images: false`` skips the scan).
    * ``exif_orientation``: apply EXIF orientation tags (images as displayed); default true.
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
    ) -> None:
        name = type(self).__name__
        self.exif_orientation = bool(exif_orientation)
        check_choice(name, "on_missing_image", on_missing_image, ("error", "skip"))
        check_choice(name, "on_unknown_class", on_unknown_class, ("error", "skip"))
        if data_root is not None:
            ann_file = os.path.join(data_root, ann_file)
            img_dir = os.path.join(data_root, img_dir)
        self.ann_file, self.img_dir = str(ann_file), str(img_dir)

        parsed = parse_coco(load_json(self.ann_file), self.ann_file, on_unknown_class)
        names, self.label_to_cat_id = label_mapping(parsed.categories, classes, self.ann_file)
        super().__init__(names, transforms)
        self.cat_id_to_label = {c: i for i, c in enumerate(self.label_to_cat_id)}

        report = CleanupReport(f"{name}({self.ann_file})")
        for where, cat_id in parsed.unknown_category:
            report.add("annotations of unknown category ids skipped", f"{where}: {cat_id}")
        records = [self._record(image, report) for image in parsed.images]
        self._setup(
            records,
            report,
            filter_empty=filter_empty,
            on_missing_image=on_missing_image,
            on_bad_image=on_bad_image,
            scan_images=scan_images,
        )

    def _record(self, image: Any, report: CleanupReport) -> ImageRecord:
        boxes, crowd = as_arrays(image)
        labels = np.array([self.cat_id_to_label.get(c, -1) for c in image.cat_ids], np.int64)
        selected = labels >= 0
        if not selected.all():
            report.add(
                "annotations of categories not in classes left out",
                image.file_name,
                int((~selected).sum()),
                dirty=False,
            )
        path = os.path.join(self.img_dir, image.file_name)
        height, width = image.height, image.width
        source = f"{self.ann_file} image_id {image.image_id}"
        if not (height and width) and os.path.isfile(path):
            height, width = read_image_size(path, source, exif_orientation=self.exif_orientation)
        return ImageRecord(
            path=path,
            file_name=image.file_name,
            image_id=image.image_id,
            height=height,
            width=width,
            boxes=boxes[selected],
            labels=labels[selected],
            ignore=crowd[selected],
            source=source,
        )
