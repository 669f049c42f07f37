"""The base of detplug's file-based detection datasets (COCO, VOC, shapes).

A subclass parses and validates its annotation files at construction (so bad data fails in
the main process, naming the file and the sample) into :class:`ImageRecord` s and hands them
to :meth:`DetectionDataset._setup`, which clips boxes, drops empty ones, applies the
missing-image and empty-image policies and logs one summary line. ``__getitem__`` then only
decodes the image and runs the transforms (docs/data.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from detplug_core.errors import BuildError, DataError
from detplug_torchvision.datasets.errors import SampleError
from detplug_torchvision.datasets.image_io import read_image
from detplug_torchvision.datasets.report import CleanupReport, clip_boxes, logger
from detplug_torchvision.datasets.scan import scan_for_bad_images

__all__ = ["DetectionDataset", "ImageRecord", "build_pipeline", "check_choice"]

Pipeline = Callable[[Any, dict], tuple[Any, dict]]


@dataclass(frozen=True)
class ImageRecord:
    """One image and its annotations, boxes as float32 xyxy pixels."""

    path: str
    file_name: str
    image_id: int
    height: int
    width: int
    boxes: np.ndarray  # float32 [N, 4]
    labels: np.ndarray  # int64 [N]
    ignore: np.ndarray  # bool [N]
    source: str = ""  # the annotation file (and entry) the record came from


def check_choice(component: str, key: str, value: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a BuildError naming the option."""
    if value not in choices:
        listed = " or ".join(repr(c) for c in choices)
        raise BuildError(f"{component}: {key} must be {listed}, got {value!r}")
    return value


def build_pipeline(transforms: Sequence[dict] | Pipeline | None) -> Pipeline | None:
    """A list of transform configs through ``detplug_core.data.build_transforms``; an
    already built callable (Python configs, tests) is used as it is."""
    if transforms is None or callable(transforms):
        return transforms
    from detplug_core.data import build_transforms

    return build_transforms(list(transforms))


class DetectionDataset(Dataset):
    """Items are ``(image, target)`` as in docs/architecture.md ("Data contract")."""

    classes: list[str]
    records: list[ImageRecord]

    #: apply EXIF orientation tags when decoding (datasets' ``exif_orientation`` option)
    exif_orientation: bool = True
    #: ``error`` or ``skip`` for files that cannot be decoded (``on_bad_image``)
    on_bad_image: str = "error"

    def __init__(self, classes: Sequence[str], transforms: Sequence[dict] | Pipeline | None):
        self.classes = list(classes)
        self.transforms = build_pipeline(transforms)
        self.records = []

    def _setup(
        self,
        records: list[ImageRecord],
        report: CleanupReport,
        *,
        filter_empty: bool,
        on_missing_image: str,
        on_bad_image: str = "error",
        scan_images: bool = True,
    ) -> None:
        """Clip and drop boxes, apply the image policies (``scan_images`` decodes every
        image once to find bad files before training), log the summary once."""
        self.on_bad_image = check_choice(
            type(self).__name__, "on_bad_image", on_bad_image, ("error", "skip")
        )
        kept: list[ImageRecord] = []
        for rec in records:
            if not os.path.isfile(rec.path):
                if on_missing_image == "error":
                    raise DataError(
                        f"{report.name}: image file '{rec.path}' does not exist "
                        f"(image_id {rec.image_id}, annotations: {rec.source}); "
                        "set on_missing_image: skip to leave such images out"
                    )
                report.add("images skipped: file missing", rec.path)
                continue
            rec = self._clean_boxes(rec, report)
            if filter_empty and not (~rec.ignore).any():
                report.add("images without boxes filtered out", rec.file_name, dirty=False)
                continue
            kept.append(rec)
        if scan_images:
            kept = scan_for_bad_images(
                kept, report, on_bad_image, exif_orientation=self.exif_orientation
            )
        self.records = kept
        report.log(len(kept), sum(len(r.boxes) for r in kept))
        self.report = report

    @staticmethod
    def _clean_boxes(rec: ImageRecord, report: CleanupReport) -> ImageRecord:
        if not len(rec.boxes):
            return rec
        boxes, changed, keep = clip_boxes(rec.boxes, rec.height, rec.width)
        report.add("boxes clipped to the image", rec.source, changed)
        if keep.all():
            return replace(rec, boxes=boxes) if changed else rec
        dropped = np.flatnonzero(~keep)
        example = f"{rec.source} box {rec.boxes[dropped[0]].tolist()}"
        report.add("empty boxes dropped (zero area or outside the image)", example, len(dropped))
        return replace(rec, boxes=boxes[keep], labels=rec.labels[keep], ignore=rec.ignore[keep])

    def __len__(self) -> int:
        return len(self.records)

    def get_image_size(self, index: int) -> tuple[int, int]:
        """``(height, width)`` of image ``index`` from the annotations, without decoding."""
        rec = self.records[index]
        return rec.height, rec.width

    def describe(self, index: int) -> str:
        """How error messages name sample ``index``."""
        rec = self.records[index]
        return f"{type(self).__name__}[{index}], image_id {rec.image_id}, {rec.file_name}"

    def load_raw(self, index: int) -> tuple[tv_tensors.Image, dict]:
        """Image ``index`` (uint8 RGB) and its target, before the transforms."""
        rec = self.records[index]
        image = read_image(rec.path, self.describe(index), exif_orientation=self.exif_orientation)
        height, width = image.shape[-2:]
        if (height, width) != (rec.height, rec.width):
            raise SampleError(
                f"image file '{rec.path}' ({self.describe(index)}) is {width}x{height} "
                f"but its annotations ({rec.source}) say {rec.width}x{rec.height}"
            )
        target = {
            "boxes": tv_tensors.BoundingBoxes(
                torch.tensor(rec.boxes, dtype=torch.float32).reshape(-1, 4),
                format=tv_tensors.BoundingBoxFormat.XYXY,
                canvas_size=(height, width),
            ),
            "labels": torch.tensor(rec.labels, dtype=torch.int64),
            "ignore": torch.tensor(rec.ignore, dtype=torch.bool),
            "image_id": rec.image_id,
            "orig_size": (int(height), int(width)),
            "file_name": rec.file_name,
        }
        return image, target

    def __getitem__(self, index: int) -> tuple[Any, dict]:
        image, target = self._load_good(index)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def _load_good(self, index: int) -> tuple[tv_tensors.Image, dict]:
        """``load_raw``; with ``on_bad_image: skip`` (and no scan before training), a file
        that cannot be decoded is replaced by the next good one and logged."""
        try:
            return self.load_raw(index)
        except SampleError as err:
            if self.on_bad_image != "skip" or len(self) < 2:
                raise
            logger.warning("on_bad_image: skip: %s; using the next image instead", err)
            return self._load_good((index + 1) % len(self))
