"""Data plumbing of the core: transform pipelines, collate, dataset wrappers, dataloaders.

``build_transforms`` needs no torch; the rest loads torch on first use.
"""

from __future__ import annotations

from typing import Any

from detplug_core.data.transforms import Compose, build_transforms

__all__ = [
    "Compose",
    "ConcatDataset",
    "RepeatDataset",
    "build_dataloader",
    "build_transforms",
    "detection_collate",
]

_LAZY = {
    "detection_collate": "detplug_core.data.collate",
    "ConcatDataset": "detplug_core.data.wrappers",
    "RepeatDataset": "detplug_core.data.wrappers",
    "build_dataloader": "detplug_core.data.loader",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'detplug_core.data' has no attribute {name!r}")
