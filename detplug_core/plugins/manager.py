"""Build a pluggy PluginManager for one Runner or CLI invocation (never a global one)."""

from __future__ import annotations

import sys

import pluggy

from detplug_core import hookspecs
from detplug_core.env import TRACE_HOOKS, env_selection
from detplug_core.plugins.loader import ensure_loaded

TRACE_ENV = TRACE_HOOKS

# Plugins added for the duration of one test by detplug_core.testing (never by the loader).
TEST_PLUGINS: list[tuple[str, object]] = []


def make_plugin_manager(*, with_plugins: bool = True) -> pluggy.PluginManager:
    """A fresh manager with the hook specifications and every loaded plugin module.

    With ``DETPLUG_TRACE_HOOKS=1`` (every hook) or ``=before_run,after_train_iter`` (those
    hooks), each call is logged to stderr with the plugins whose implementations ran.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if with_plugins:
        for record in ensure_loaded():
            if record.status == "loaded" and record.module is not None:
                if pm.is_registered(record.module):
                    continue
                pm.register(record.module, name=record.name)
    for name, plugin in TEST_PLUGINS:
        if not pm.is_registered(plugin):
            pm.register(plugin, name=name)
    traced = env_selection(TRACE_ENV)
    if traced is not None:
        install_tracing(pm, None if "*" in traced else ",".join(sorted(traced)))
    return pm


def install_tracing(pm: pluggy.PluginManager, hooks: str | None) -> None:
    """Log each traced hook call and the plugins that implement it to stderr."""
    wanted = None if hooks is None else {h.strip() for h in hooks.split(",") if h.strip()}

    def before(hook_name: str, impls: list, kwargs: dict) -> None:
        if wanted is None or hook_name in wanted:
            names = ", ".join(impl.plugin_name for impl in reversed(impls)) or "(none)"
            print(f"[detplug hook] {hook_name} -> {names}", file=sys.stderr)

    def after(outcome: object, hook_name: str, impls: list, kwargs: dict) -> None:
        pass

    pm.add_hookcall_monitoring(before, after)


def plugin_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Names of the hooks ``plugin`` implements in ``pm``."""
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
