"""Plugin discovery (entry points), load state and per-invocation pluggy managers.

``make_plugin_manager`` (pluggy and the hook specifications) is imported on first use, so
that importing ``detplug_core`` (which connects the root registries to the loader) stays light.
"""

from __future__ import annotations

from typing import Any

from detplug_core.plugins.loader import configure, ensure_loaded
from detplug_core.plugins.state import PluginRecord, failed_plugins, records

__all__ = [
    "PluginRecord",
    "configure",
    "ensure_loaded",
    "failed_plugins",
    "make_plugin_manager",
    "records",
]


def __getattr__(name: str) -> Any:
    if name == "make_plugin_manager":
        from detplug_core.plugins.manager import make_plugin_manager

        return make_plugin_manager
    raise AttributeError(f"module 'detplug_core.plugins' has no attribute {name!r}")
