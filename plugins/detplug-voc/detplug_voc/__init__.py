"""detplug-voc: VOC datasets and the VOC metric; recognises VOC folders for ``--data``."""

from detplug_voc import dataset, metric  # noqa: F401  (registers)
from detplug_voc.registries import DATASETS, METRICS
from detplug_voc.source import before_train, detplug_data_source

__version__ = "0.1.0"
__all__ = ["DATASETS", "METRICS", "before_train", "detplug_data_source"]
