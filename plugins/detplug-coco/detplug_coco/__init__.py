"""detplug-coco: Coco datasets and the Coco metric."""

from detplug_coco import dataset, metric  # noqa: F401  (registers)
from detplug_coco.registries import DATASETS, METRICS

__version__ = "0.1.0"
__all__ = ["DATASETS", "METRICS"]
