"""detplug-shapes: a synthetic, deterministic shapes detection dataset (the embedded default)."""

from detplug_shapes import dataset  # noqa: F401  (registers)
from detplug_shapes.dataset import ShapesDataset
from detplug_shapes.generator import SHAPE_KINDS
from detplug_shapes.registries import DATASETS

__version__ = "0.1.0"
__all__ = ["DATASETS", "SHAPE_KINDS", "ShapesDataset"]
