"""detplug-voc: VOC datasets and the VOC metric."""

from detplug_voc import dataset, metric  # noqa: F401  (registers)
from detplug_voc.registries import DATASETS, METRICS

__version__ = "0.1.0"
__all__ = ["DATASETS", "METRICS"]
