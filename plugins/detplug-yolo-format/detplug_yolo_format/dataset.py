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
from detplug_yolo_format.label_file import LabelRows, parse_label_file, to_pixel_boxes
from detplug_yolo_format.polygon_store import PolygonStore
from detplug_yolo_format.polygons import rasterise
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


def _report_rows(report: CleanupReport, label: str, rows: LabelRows) -> None:
    """Count the file's dropped and fixed rows, naming its first line of each."""
    for reason, lines in (
        ("zero-size boxes dropped", rows.zero_size),
        ("repeated rows dropped", rows.duplicates),
        ("polygons with an odd number of coordinates dropped", rows.odd_polygons),
        ("polygons of fewer than 3 distinct points dropped", rows.few_points),
        ("polygons clipped to the image", rows.clipped),
        ("polygons covering no pixel dropped (empty masks)", rows.empty_masks),
    ):
        if lines:
            report.add(reason, f"{label}:{lines[0]}", len(lines))


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
    * Polygon rows (``cls x1 y1 x2 y2 ...``, 3 or more points: Ultralytics' segment format)
      give their bounding box. ``with_masks: true`` adds their masks (``target["masks"]``,
      rasterised by pycocotools when a sample is loaded); a box row among them gets its
      filled box as mask, counted in the summary; a split with box rows and not one polygon
      is a DataError (a detection data set). Polygons with an odd number of coordinates,
      fewer than 3 distinct points, or (with masks) no pixel covered are dropped, points
      outside the image clipped, each counted with its first file and line.
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
        with_masks: bool = False,
    ) -> None:
        name = type(self).__name__
        check_choice(name, "on_missing_image", on_missing_image, ("error", "skip"))
        check_choice(name, "on_bad_image", on_bad_image, ("error", "skip"))
        self.exif_orientation = bool(exif_orientation)
        self.with_masks = bool(with_masks)
        self._skip_bad = on_bad_image == "skip"
        self.data = load_data_yaml(data)
        self.split = split
        super().__init__(self.data.names, transforms)
        report = CleanupReport(f"{name}({self.data.path} {split})")
        images, folders = list_split(self.data, split)
        labels = [label_path(p) for p in images]
        files: list[LabelRows | None] = []
        records = [
            self._record(i, image, label, report, files)
            for i, (image, label) in enumerate(zip(images, labels, strict=True))
        ]
        self.polygons = PolygonStore.from_rows(files)
        if self.with_masks:
            self._check_has_polygons(files, labels, report)
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

    def _check_has_polygons(
        self, files: list[LabelRows | None], labels: list[str], report: CleanupReport
    ) -> None:
        """with_masks: box rows are given their filled box; a split of box rows only is a
        detection data set, refused by name."""
        box_rows = [
            (label, rows.lines[k])
            for label, rows in zip(labels, files, strict=True)
            if rows is not None
            for k in np.flatnonzero(np.diff(rows.point_start) == 0).tolist()
        ]
        if box_rows and not len(self.polygons.points):
            raise DataError(
                f"{type(self).__name__}({self.data.path} {self.split}): with_masks: true but "
                f"no label file has a polygon row ('class x1 y1 x2 y2 ...'): its "
                f"{len(box_rows)} rows are boxes (first: {box_rows[0][0]}:{box_rows[0][1]}); "
                "this is a detection data set: use a recipe without masks, or with_masks: false"
            )
        first = f"{box_rows[0][0]}:{box_rows[0][1]}" if box_rows else ""
        report.add("box rows given their filled box as mask", first, len(box_rows))

    def load_masks(self, index: int, record: ImageRecord) -> np.ndarray:
        """The masks of the record's rows: each polygon rasterised by pycocotools in the
        image's pixels, the filled box for a box row."""
        polygons = self.polygons.polygons(record.image_id, record.ann_index)
        return rasterise(polygons, record.boxes, record.height, record.width)

    def _record(
        self,
        index: int,
        image: str,
        label: str,
        report: CleanupReport,
        files: list[LabelRows | None],
    ) -> ImageRecord:
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
            rows = parse_label_file(label, len(self.classes), height, width, self.with_masks)
            if not len(rows.labels) and not rows.dropped():
                report.add("empty label files (background)", label, dirty=False)
        else:
            rows = None
            report.add("images without a label file (background)", image, dirty=False)
        boxes = np.zeros((0, 4), np.float32)
        classes = np.zeros(0, np.int64)
        files.append(rows if self.with_masks else None)
        if rows is not None:
            if not self.with_masks:
                report.add("polygon rows turned into boxes", label, rows.polygons, dirty=False)
            _report_rows(report, label, rows)
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
