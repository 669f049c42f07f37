"""Shared machinery of file-based detection datasets (base class, image decoding, clean-up
summary). Registers nothing: the dataset plugins (coco, voc, shapes) build on it."""

from detplug_torchvision.datasets.base import (
    DetectionDataset,
    ImageRecord,
    build_pipeline,
    check_choice,
)
from detplug_torchvision.datasets.errors import SampleError
from detplug_torchvision.datasets.image_io import read_image, read_image_size
from detplug_torchvision.datasets.report import CleanupReport, clip_boxes

__all__ = [
    "CleanupReport",
    "DetectionDataset",
    "ImageRecord",
    "SampleError",
    "build_pipeline",
    "check_choice",
    "clip_boxes",
    "read_image",
    "read_image_size",
]
