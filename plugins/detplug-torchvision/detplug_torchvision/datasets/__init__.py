"""Shared machinery of file-based detection datasets (base class, image decoding, clean-up
summary). Registers nothing: the dataset plugins (coco, voc, shapes) build on it."""

from detplug_torchvision.datasets.base import DetectionDataset, build_pipeline, check_choice
from detplug_torchvision.datasets.errors import SampleError
from detplug_torchvision.datasets.image_io import read_image, read_image_size
from detplug_torchvision.datasets.records import ImageRecord, NumberedColumn, RecordStore
from detplug_torchvision.datasets.report import CleanupReport, clip_boxes
from detplug_torchvision.datasets.scan import find_bad_images
from detplug_torchvision.datasets.scan_cache import ScanCache

__all__ = [
    "CleanupReport",
    "DetectionDataset",
    "ImageRecord",
    "NumberedColumn",
    "RecordStore",
    "SampleError",
    "ScanCache",
    "build_pipeline",
    "check_choice",
    "clip_boxes",
    "find_bad_images",
    "read_image",
    "read_image_size",
]
