"""Register a plugin for one test only, then put the registries back as they were."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from detplug_core.plugins.manager import TEST_PLUGINS
from detplug_core.registry.roots import ROOT_REGISTRIES


def registry_snapshot() -> dict:
    """Every registry's entries and children, to restore after a test."""
    from detplug_core.plugins.loader import ensure_loaded

    ensure_loaded()  # load installed plugins first, so they are part of the snapshot
    return {
        id(reg): (reg, dict(reg._entries), dict(reg._children))
        for root in ROOT_REGISTRIES.values()
        for reg in root.walk()
    }


def restore(snapshot: dict) -> None:
    for reg, entries, children in snapshot.values():
        reg._entries.clear()
        reg._entries.update(entries)
        reg._children.clear()
        reg._children.update(children)


class PluginSandbox:
    """What the ``detplug_plugin`` fixture yields.

    ``sandbox.register(obj_or_module, name)`` makes ``obj`` take part in every PluginManager
    made during the test (its ``@hookimpl`` functions run in Runners and the CLI);
    ``sandbox.load_module("pkg.mod")`` imports a module afresh so its registry decorators run.
    Everything is undone when the test ends.
    """

    def __init__(self) -> None:
        self._snapshot = registry_snapshot()
        self._added: list[tuple[str, object]] = []
        self._modules: list[str] = []

    def register(self, plugin: object, name: str | None = None) -> object:
        """Make ``plugin`` take part in every PluginManager of this test; its ``@hookimpl``
        functions are checked as the loader checks an installed plugin's (a wrong argument
        raises, a name no hook has warns; both with the hook's accepted names)."""
        from detplug_core.plugins.hookcheck import check_hookimpls
        from detplug_core.plugins.loader import current_options

        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        check_hookimpls(plugin, f"plugin '{name}'", strict=bool(current_options().strict))
        TEST_PLUGINS.append((name, plugin))
        self._added.append((name, plugin))
        return plugin

    def load_module(self, module_name: str, *, register: bool = True) -> ModuleType:
        sys.modules.pop(module_name, None)
        module = importlib.import_module(module_name)
        self._modules.append(module_name)
        if register:
            self.register(module, module_name)
        return module

    def close(self) -> None:
        for item in self._added:
            if item in TEST_PLUGINS:
                TEST_PLUGINS.remove(item)
        for name in self._modules:
            sys.modules.pop(name, None)
        restore(self._snapshot)
