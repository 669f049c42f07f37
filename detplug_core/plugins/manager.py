"""Build a pluggy PluginManager for one Runner or CLI invocation (never a global one)."""

from __future__ import annotations

import pluggy

from detplug_core import hookspecs
from detplug_core.plugins.loader import ensure_loaded


def make_plugin_manager(*, with_plugins: bool = True) -> pluggy.PluginManager:
    """A fresh manager with the hook specifications and every loaded plugin module."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if with_plugins:
        for record in ensure_loaded():
            if record.status == "loaded" and record.module is not None:
                if pm.is_registered(record.module):
                    continue
                pm.register(record.module, name=record.name)
    return pm


def plugin_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Names of the hooks ``plugin`` implements in ``pm``."""
    return sorted(
        caller.name
        for caller in pm.get_hookcallers(plugin) or []
    )
