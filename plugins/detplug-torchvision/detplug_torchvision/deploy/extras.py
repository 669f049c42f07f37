"""Optional packages of export and benchmarking: a missing one is a one-line user error."""

from __future__ import annotations

import importlib
from types import ModuleType

from detplug_core.errors import DetplugError

EXTRA = "detplug-torchvision[onnx]"
PIP = f"pip install '{EXTRA}'"


class MissingExtraError(DetplugError):
    """An optional package (onnx, onnxscript, onnxruntime) is not installed."""


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` with the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            f"{purpose} needs the Python package '{module}', which is not installed "
            f"({err}); install the extra: {PIP}"
        ) from None
