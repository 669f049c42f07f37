"""``YoloDataset``: one split of an Ultralytics-layout data set (DATASETS, scope ``yolo``)."""

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

from detplug_core.errors import DataError
from detplug_yolo_format.data_yaml import label_path, list_split, load_data_yaml
from detplug_yolo_format.label_file import parse_label_file, to_pixel_boxes
from detplug_yolo_format.registries import DATASETS

__all__ = ["YoloDataset"]


def _orphan_labels(folders: list[str], wanted: set[str]) -> list[str]:
    """Label files under the ``labels`` twin of each image folder that no image uses."""
    orphans = []
    for folder in folders:
        twin = os.path.dirname(label_path(os.path.join(folder, "x.jpg")))
        for dirpath, dirnames, filenames in os.walk(twin):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if name.endswith(".txt") and path not in wanted and name != "classes.txt":
                    orphans.append(path)
    return orphans


@DATASETS.register()
class YoloDataset(DetectionDataset):
    """Images and ``cls cx cy w h`` label files as Ultralytics lays them out.

    * ``data``: the ``data.yaml`` file; ``split``: ``train``, ``val`` or ``test``.
    * ``classes`` are the file's ``names``; label i is ``names[i]``.
    * ``images/.../x.jpg`` pairs with ``labels/.../x.txt``. An image without a label file,
      or with an empty one, is a background image (kept, or left out with
      ``filter_empty: true``); label files without an image are counted in the summary.
    * Zero-size boxes and repeated rows are dropped, boxes are clipped to the image, all
      counted in the one summary line; a malformed row or a class id outside ``names`` is a
      DataError naming the file and the line.
    * ``image_id`` is the running index; ``file_name`` the image path relative to the root.
    * ``on_bad_image``: ``error`` or ``skip`` for image files that cannot be decoded (found
      by decoding each image once at construction; ``scan_images: false`` skips the scan).
    * ``exif_orientation``: images as displayed (EXIF orientation applied, as the labels of
      photos are drawn); default true.
    """

    def __init__(
        self,
        data: str,
        split: str = "train",
        transforms: Sequence[dict] | Any = None,
        filter_empty: bool = False,
        on_missing_image: str = "error",
        on_bad_image: str = "error",
        scan_images: bool = True,
        exif_orientation: bool = True,
    ) -> None:
        name = type(self).__name__
        check_choice(name, "on_missing_image", on_missing_image, ("error", "skip"))
        check_choice(name, "on_bad_image", on_bad_image, ("error", "skip"))
        self.exif_orientation = bool(exif_orientation)
        self._skip_bad = on_bad_image == "skip"
        self.data = load_data_yaml(data)
        self.split = split
        super().__init__(self.data.names, transforms)
        report = CleanupReport(f"{name}({self.data.path} {split})")
        images, folders = list_split(self.data, split)
        labels = [label_path(p) for p in images]
        records = [
            self._record(i, image, label, report)
            for i, (image, label) in enumerate(zip(images, labels, strict=True))
        ]
        orphans = _orphan_labels(folders, set(labels))
        report.add("label files without an image", orphans[0] if orphans else "", len(orphans))
        self._setup(
            records,
            report,
            filter_empty=filter_empty,
            on_missing_image=on_missing_image,
            on_bad_image=on_bad_image,
            scan_images=scan_images,
        )

    def _record(self, index: int, image: str, label: str, report: CleanupReport) -> ImageRecord:
        height = width = 0
        if os.path.isfile(image):
            try:
                height, width = read_image_size(
                    image,
                    f"{type(self).__name__} {self.split}",
                    exif_orientation=self.exif_orientation,
                )
            except DataError:
                if not self._skip_bad:
                    raise
                # unreadable header: the bad-image scan leaves it out (on_bad_image: skip)
        if os.path.isfile(label):
            rows = parse_label_file(label, len(self.classes))
            if not len(rows.labels) and not rows.zero_size:
                report.add("empty label files (background)", label, dirty=False)
        else:
            rows = None
            report.add("images without a label file (background)", image, dirty=False)
        boxes = np.zeros((0, 4), np.float32)
        classes = np.zeros(0, np.int64)
        if rows is not None:
            report.add("polygon rows turned into boxes", label, rows.polygons, dirty=False)
            if rows.zero_size:
                report.add(
                    "zero-size boxes dropped", f"{label}:{rows.zero_size[0]}", len(rows.zero_size)
                )
            if rows.duplicates:
                report.add(
                    "repeated rows dropped", f"{label}:{rows.duplicates[0]}", len(rows.duplicates)
                )
            boxes = to_pixel_boxes(rows.boxes, height, width)
            classes = rows.labels
        return ImageRecord(
            path=image,
            file_name=os.path.relpath(image, self.data.root).replace(os.sep, "/"),
            image_id=index,
            height=height,
            width=width,
            boxes=boxes,
            labels=classes,
            ignore=np.zeros(len(classes), bool),
            source=label,
        )
