"""detplug core: Config, scoped Registry, plugin loader and Runner.

Importing this package is cheap: it imports neither torch nor any plugin. Plugins load on
the first registry lookup or listing; the Runner (which needs torch) loads on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from detplug_core.errors import DetplugError
from detplug_core.plugins.source import connect as _connect_plugin_source
from detplug_core.registry import (
    DATASETS,
    HOOKS,
    METRICS,
    MODELS,
    OPTIMIZERS,
    SAMPLERS,
    SCHEDULERS,
    TRANSFORMS,
    Registry,
)

_connect_plugin_source()  # the root registries load the installed plugins on first use

__version__ = "0.1.0"

__all__ = [
    "DATASETS",
    "HOOKS",
    "METRICS",
    "MODELS",
    "OPTIMIZERS",
    "SAMPLERS",
    "SCHEDULERS",
    "TRANSFORMS",
    "Config",
    "DetplugError",
    "Hook",
    "Registry",
    "Runner",
    "RunnerView",
    "hookimpl",
    "__version__",
]

if TYPE_CHECKING:  # the lazily loaded names (below), as a type checker sees them
    from detplug_core.config import Config
    from detplug_core.hookspecs import hookimpl
    from detplug_core.runner import Runner
    from detplug_core.runner.hook import Hook
    from detplug_core.runner.protocol import RunnerView

_LAZY = {
    "Config": "detplug_core.config",
    "Runner": "detplug_core.runner",
    "Hook": "detplug_core.runner.hook",
    "RunnerView": "detplug_core.runner.protocol",
    "hookimpl": "detplug_core.hookspecs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'detplug_core' has no attribute {name!r}")
