"""Plugin discovery (entry points), load state and per-invocation pluggy managers."""

from detplug_core.plugins.loader import configure, ensure_loaded
from detplug_core.plugins.manager import make_plugin_manager
from detplug_core.plugins.state import PluginRecord, failed_plugins, records

__all__ = [
    "PluginRecord",
    "configure",
    "ensure_loaded",
    "failed_plugins",
    "make_plugin_manager",
    "records",
]
