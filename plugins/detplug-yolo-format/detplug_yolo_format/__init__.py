"""detplug-yolo-format: datasets in the Ultralytics/YOLO txt layout (scope ``yolo``).

Registers ``YoloDataset`` and implements ``detplug_data_source`` so that
``detplug train CONFIG --data path/to/data.yaml`` recognises a YOLO data set.
"""

from detplug_yolo_format import dataset  # noqa: F401  (registers)
from detplug_yolo_format.registries import DATASETS
from detplug_yolo_format.source import detplug_data_source

__version__ = "0.1.0"
__all__ = ["DATASETS", "detplug_data_source"]
