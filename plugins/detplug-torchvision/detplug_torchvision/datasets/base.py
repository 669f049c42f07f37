"""The base of detplug's file-based detection datasets (COCO, VOC, shapes).

A subclass parses and validates its annotation files at construction (so bad data fails in
the main process, naming the file and the sample) into :class:`ImageRecord` s and hands them
to :meth:`DetectionDataset._setup`, which clips boxes, drops empty ones, applies the
missing-image and empty-image policies and logs one summary line. ``__getitem__`` then only
decodes the image and runs the transforms (docs/data.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from detplug_core.errors import BuildError, DataError
from detplug_torchvision.datasets.errors import SampleError
from detplug_torchvision.datasets.image_io import read_image
from detplug_torchvision.datasets.record_cleanup import clean_records
from detplug_torchvision.datasets.records import ImageRecord, RecordStore
from detplug_torchvision.datasets.report import CleanupReport, logger
from detplug_torchvision.datasets.scan import scan_for_bad_images, stat_files

__all__ = ["DetectionDataset", "ImageRecord", "build_pipeline", "check_choice"]

Pipeline = Callable[[Any, dict], tuple[Any, dict]]


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
    records: RecordStore

    #: apply EXIF orientation tags when decoding (datasets' ``exif_orientation`` option)
    exif_orientation: bool = True
    #: ``error`` or ``skip`` for files that cannot be decoded (``on_bad_image``)
    on_bad_image: str = "error"
    #: add each image's instance masks to its target (datasets' ``with_masks`` option);
    #: the dataset provides them through :meth:`load_masks`
    with_masks: bool = False

    def __init__(self, classes: Sequence[str], transforms: Sequence[dict] | Pipeline | None):
        self.classes = list(classes)
        self.transforms = build_pipeline(transforms)
        self.records = RecordStore.from_records([])

    def _setup(
        self,
        records: Sequence[ImageRecord] | RecordStore,
        report: CleanupReport,
        *,
        filter_empty: bool,
        on_missing_image: str,
        on_bad_image: str = "error",
        scan_images: bool | str = True,
    ) -> None:
        """Clip and drop boxes, apply the image policies, scan for bad image files (``True``:
        the structural check, ``"decode"``: decode every file; see ``scan``), log the summary
        once. ``records`` become a :class:`RecordStore` (``self.records``)."""
        name = type(self).__name__
        self.on_bad_image = check_choice(name, "on_bad_image", on_bad_image, ("error", "skip"))
        if scan_images not in (True, False, "decode"):
            raise BuildError(
                f"{name}: scan_images must be true, false or 'decode', got {scan_images!r}"
            )
        store = RecordStore.from_records(records)
        # one stat per file: whether it exists, and the size and mtime the scan's cache needs
        stats = stat_files(store.paths.tolist())
        kept, rows = clean_records(
            store,
            report,
            is_file=stats.is_file,
            filter_empty=filter_empty,
            on_missing_image=on_missing_image,
        )
        if scan_images and len(kept):
            keep = scan_for_bad_images(
                kept.paths.tolist(),
                kept.image_ids,
                report,
                self.on_bad_image,
                exif_orientation=self.exif_orientation,
                decode=scan_images == "decode",
                stats=stats.take(rows),
            )
            if not keep.all():
                kept = kept.select(keep)
        self.records = kept
        report.log(len(kept), len(kept.boxes))
        self.report = report

    def __len__(self) -> int:
        return len(self.records)

    def get_image_size(self, index: int) -> tuple[int, int]:
        """``(height, width)`` of image ``index`` from the annotations, without decoding."""
        return int(self.records.heights[index]), int(self.records.widths[index])

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
        if self.with_masks:
            target["masks"] = self._masks_of(index, rec)
        return image, target

    def load_masks(self, index: int, record: ImageRecord) -> np.ndarray | torch.Tensor:
        """The instance masks of image ``index``: uint8 (or bool) [K, H, W], one per box of
        ``record`` in its order (``record.ann_index`` says which annotation each kept box
        came from), H, W the image's size; crowd regions (``ignore``) included. Datasets
        that can load masks override this; the default refuses by name."""
        raise DataError(
            f"{type(self).__name__} does not load instance masks (with_masks: true); "
            "use a dataset whose annotations have them (COCO polygons or RLE, YOLO "
            "segmentation labels, VOC SegmentationObject, ShapesDataset)"
        )

    def _masks_of(self, index: int, rec: ImageRecord) -> tv_tensors.Mask:
        masks = torch.as_tensor(self.load_masks(index, rec))
        expected = (len(rec.boxes), rec.height, rec.width)
        if tuple(masks.shape) != expected:
            raise DataError(
                f"{self.describe(index)}: load_masks gave masks of shape {list(masks.shape)}, "
                f"expected {list(expected)} (one per box, the image's height and width)"
            )
        return tv_tensors.Mask(masks.to(torch.uint8))

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
