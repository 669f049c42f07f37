"""detplug-coco: Coco datasets and the Coco metric; recognises COCO JSON for ``--data``."""

from detplug_coco import dataset, metric  # noqa: F401  (registers)
from detplug_coco.registries import DATASETS, METRICS
from detplug_coco.source import detplug_data_source

__version__ = "0.1.0"
__all__ = ["DATASETS", "METRICS", "detplug_data_source"]
