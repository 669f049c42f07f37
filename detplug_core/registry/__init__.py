"""Registry with parent scopes (see docs/registry.md)."""

from detplug_core.registry.build import build_from_cfg
from detplug_core.registry.registry import ROOT_SCOPE, Entry, Registry
from detplug_core.registry.roots import (
    DATASETS,
    HOOKS,
    METRICS,
    MODELS,
    OPTIMIZERS,
    ROOT_REGISTRIES,
    SAMPLERS,
    SCHEDULERS,
    TRANSFORMS,
)

__all__ = [
    "DATASETS",
    "HOOKS",
    "METRICS",
    "MODELS",
    "OPTIMIZERS",
    "ROOT_REGISTRIES",
    "ROOT_SCOPE",
    "SAMPLERS",
    "SCHEDULERS",
    "TRANSFORMS",
    "Entry",
    "Registry",
    "build_from_cfg",
]
