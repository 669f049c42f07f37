"""Box-aware transforms: every torchvision.transforms.v2 transform by name (bridge) plus the
detection steps v2 lacks. Importing registers them into the ``torchvision`` scope."""

from detplug_torchvision.transforms import bridge, resize  # noqa: F401  (registers)
from detplug_torchvision.transforms.boxes import DropIgnored, SanitizeBoxes
from detplug_torchvision.transforms.convert import ToFloatImage
from detplug_torchvision.transforms.multi_image import MixUp, Mosaic, MultiImageTransform
from detplug_torchvision.transforms.resize import ResizeShortLong
from detplug_torchvision.transforms.scale_crop import PadTo, RandomCropUpTo, RandomScale

__all__ = [
    "DropIgnored",
    "MixUp",
    "Mosaic",
    "MultiImageTransform",
    "PadTo",
    "RandomCropUpTo",
    "RandomScale",
    "ResizeShortLong",
    "SanitizeBoxes",
    "ToFloatImage",
]
