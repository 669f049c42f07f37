"""A hierarchical registry of named components with parent scopes.

Lookup rules (docs/registry.md):

* ``"Name"`` from registry R: R, then R's ancestors (nearest wins). If still not found, the
  whole tree below the root: one match wins, several are an ambiguity error listing each
  ``scope.Name``, none is a not-found error with close matches and the plugins that failed.
* ``"scope.Name"``: that scope's registry, then its ancestors.

The root registries (``detplug_core.MODELS`` ...) fill themselves lazily on the first lookup
or listing, through the :class:`~detplug_core.registry.source.ComponentSource` the plugin
loader installs; this module imports neither torch nor the plugin loader. Each entry records,
at registration, who registered it (:mod:`detplug_core.registry.provenance`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

from detplug_core.errors import AmbiguousNameError, NotFoundError, RegistryError
from detplug_core.registry.build import build_from_cfg
from detplug_core.registry.provenance import (
    Provenance,
    provenance_for,
    provenance_of,
    record,
)
from detplug_core.registry.source import ComponentSource

ROOT_SCOPE = "detplug"

__all__ = ["ROOT_SCOPE", "Entry", "Provenance", "Registry", "provenance_of"]


class Entry:
    """One registered component and where it came from."""

    __slots__ = ("name", "obj", "provenance", "registry")

    def __init__(self, name: str, obj: Any, registry: Registry, provenance: Provenance):
        self.name = name
        self.obj = obj
        self.registry = registry
        self.provenance = provenance

    def __repr__(self) -> str:
        return f"Entry({self.qualified_name!r}, {self.obj!r})"

    @property
    def scope(self) -> str:
        return self.registry.scope

    @property
    def qualified_name(self) -> str:
        return f"{self.scope}.{self.name}"

    @property
    def defined_at(self) -> str:
        """``module.qualname (file:line)`` of the registered object, for error messages."""
        module = getattr(self.obj, "__module__", "?")
        qualname = getattr(self.obj, "__qualname__", repr(self.obj))
        import inspect  # imported here: keeps `import detplug_core` light

        try:
            target = inspect.unwrap(self.obj)
            file = inspect.getsourcefile(target)
            line = inspect.getsourcelines(target)[1]
            return f"{module}.{qualname} ({file}:{line})"
        except (TypeError, OSError):
            return f"{module}.{qualname}"

    @property
    def distribution(self) -> str:
        """The distribution of the plugin that registered it."""
        return self.provenance.distribution

    @property
    def plugin(self) -> str:
        """The top-level package of the plugin that registered it."""
        return self.provenance.package


class Registry:
    """Maps names to classes or factory functions, with a parent for scoped lookups.

    ``Registry("models")`` makes a root; plugins make children:
    ``Registry("models", parent=detplug_core.MODELS, scope="fcos")``.
    """

    def __init__(self, name: str, parent: Registry | None = None, scope: str | None = None):
        self.name = name
        self.parent = parent
        self._entries: dict[str, Entry] = {}
        self._children: dict[str, Registry] = {}
        self._source: ComponentSource | None = None
        self._loaded = False
        if parent is None:
            self.scope = scope or ROOT_SCOPE
            return
        if not scope:
            raise RegistryError(f"child registry of '{parent.name}' needs a scope")
        if "." in scope:
            raise RegistryError(f"registry scope '{scope}' must not contain '.'")
        if scope in parent._children or scope == parent.root.scope:
            raise RegistryError(
                f"registry '{parent.name}' already has a child with scope '{scope}'"
            )
        self.scope = scope
        parent._children[scope] = self

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, scope={self.scope!r}, {len(self._entries)} entries)"

    # -- tree ---------------------------------------------------------------------------
    @property
    def root(self) -> Registry:
        node = self
        while node.parent is not None:
            node = node.parent
        return node

    def ancestors(self) -> Iterator[Registry]:
        """This registry, then its parent, up to the root."""
        node: Registry | None = self
        while node is not None:
            yield node
            node = node.parent

    def walk(self) -> Iterator[Registry]:
        """This registry and every descendant, depth first, children in scope order."""
        yield self
        for scope in sorted(self._children):
            yield from self._children[scope].walk()

    def _raise_if_blocked(self, scope: str, name: str | None = None) -> None:
        """A scope that names a blocked plugin: say so, with how to lift the block."""
        source = self.root._source
        why = source.blocked_scope(scope) if source is not None else None
        if why is not None:
            what = f"'{name}' is not registered: " if name else ""
            raise NotFoundError(f"{what}unknown scope '{scope}': {why}")

    def find_scope(self, scope: str) -> Registry:
        """The registry of ``scope`` in this tree; an error listing known scopes if none."""
        self._ensure_loaded()
        for reg in self.root.walk():
            if reg.scope == scope:
                return reg
        self._raise_if_blocked(scope)
        known = ", ".join(sorted(r.scope for r in self.root.walk()))
        raise NotFoundError(
            f"unknown scope '{scope}' in the {self.root.name} registry; known scopes: {known}"
            + self._failed_plugins_hint()
        )

    def set_source(self, source: ComponentSource) -> None:
        """Install what fills this tree on first use and explains what is missing from it
        (root registries only; the plugin loader installs itself)."""
        if self.parent is not None:
            raise RegistryError(f"set_source on '{self.name}' scope '{self.scope}': not a root")
        self._source = source

    def _ensure_loaded(self) -> None:
        root = self.root
        if root._source is not None and not root._loaded:
            root._loaded = True
            root._source.load()

    # -- registration ---------------------------------------------------------------------
    def register(
        self, name: str | Callable | None = None, *, obj: Any = None, force: bool = False
    ) -> Any:
        """Register a class or function, as ``@reg.register()``, ``@reg.register("N")`` or
        ``reg.register("N", obj=thing)``. A duplicate name is an error naming both."""
        # The module that calls register(), as collections.namedtuple finds its caller:
        # provenance is recorded from it now (registry/provenance.py), never guessed later.
        module = sys._getframe(1).f_globals.get("__name__", "")
        if callable(name) and not isinstance(name, str):  # bare @reg.register
            return self._add(name.__name__, name, force, module)
        if obj is not None:
            self._add(name or obj.__name__, obj, force, module)
            return obj

        def decorator(target: Any) -> Any:
            self._add(name or target.__name__, target, force, module)
            return target

        return decorator

    def _add(self, name: str, obj: Any, force: bool, module: str) -> Any:
        if not isinstance(name, str) or not name or "." in name:
            raise RegistryError(f"invalid component name {name!r} for registry '{self.name}'")
        old = self._entries.get(name)
        provenance = provenance_for(module)
        if self.parent is None and provenance.plugin is not None:
            raise RegistryError(
                f"{provenance.describe()} registers '{name}' into the root {self.name} "
                f"registry, where it would shadow every plugin's '{name}'; a plugin registers "
                f"into its own scoped child: Registry('{self.name}', "
                f"parent=detplug_core.{self.name.upper()}, scope='{provenance.plugin}')"
            )
        if old is not None and not force and old.obj is not obj:
            new = Entry(name, obj, self, provenance)
            raise RegistryError(
                f"'{name}' is already registered in {self.name} scope '{self.scope}' by "
                f"{old.defined_at}; second definition: {new.defined_at}. "
                "Use another name or register(..., force=True) to replace it."
            )
        self._entries[name] = Entry(name, obj, self, provenance)
        record(obj, provenance)
        return obj

    def remove_registered_by(self, provenance: Provenance) -> list[str]:
        """Remove, from this registry and its descendants, every name that ``provenance``
        registered (the loader, for a plugin that failed half-way); returns the removed
        qualified names."""
        removed = []
        for reg in self.walk():
            for entry in [e for e in reg._entries.values() if e.provenance == provenance]:
                del reg._entries[entry.name]
                removed.append(entry.qualified_name)
        return removed

    # -- lookup -----------------------------------------------------------------------------
    def __contains__(self, key: str) -> bool:
        try:
            self.get(key)
        except (NotFoundError, AmbiguousNameError):
            return False
        return True

    def get(self, key: str | Any) -> Any:
        """The object registered under ``key`` (``"Name"`` or ``"scope.Name"``)."""
        return self.get_entry(key).obj if isinstance(key, str) else key

    def get_entry(self, key: str) -> Entry:
        self._ensure_loaded()
        if "." in key:
            scope, _, name = key.rpartition(".")
            if not any(reg.scope == scope for reg in self.root.walk()):
                # a scope no loaded plugin has: blocked, or say which distribution provides it
                self._raise_if_blocked(scope, name)
                known = ", ".join(sorted(r.scope for r in self.root.walk()))
                where = (
                    f"scope '{scope}' (unknown scope in {self.root.name}; known scopes: {known})"
                )
                raise NotFoundError(self._not_found_message(name, where))
            start = self.find_scope(scope)
            for reg in start.ancestors():
                if name in reg._entries:
                    return reg._entries[name]
            raise NotFoundError(self._not_found_message(name, f"scope '{scope}' or its parents"))
        for reg in self.ancestors():
            if key in reg._entries:
                return reg._entries[key]
        matches = [reg._entries[key] for reg in self.root.walk() if key in reg._entries]
        if len(matches) == 1:
            return matches[0]
        if matches:
            listed = ", ".join(f"'{m.qualified_name}' ({m.distribution})" for m in matches)
            raise AmbiguousNameError(
                f"'{key}' is ambiguous in the {self.root.name} registry: {listed}. "
                f"Write the scope, e.g. type: {matches[0].qualified_name}"
            )
        raise NotFoundError(self._not_found_message(key, f"the {self.root.name} registry"))

    def _not_found_message(self, name: str, where: str) -> str:
        source = self.root._source
        failed = source.failed_provider(name) if source is not None else None
        if failed is not None:
            return failed
        names = sorted({n for reg in self.root.walk() for n in reg._entries})
        import difflib

        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        msg = f"'{name}' is not registered in {where}"
        msg += "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else "."
        hint = source.missing_hint(name) if source is not None else ""
        return msg + hint + self._failed_plugins_hint()

    def _failed_plugins_hint(self) -> str:
        source = self.root._source
        return source.failures() if source is not None else ""

    # -- listing ----------------------------------------------------------------------------
    def entries(self, pattern: str | None = None) -> list[Entry]:
        """Every entry in this registry's subtree, sorted by qualified name; ``pattern`` is
        an fnmatch filter on the bare or qualified name (``"ResNet*"``)."""
        import fnmatch

        self._ensure_loaded()
        found = [e for reg in self.walk() for e in reg._entries.values()]
        if pattern:
            found = [
                e
                for e in found
                if fnmatch.fnmatch(e.name, pattern) or fnmatch.fnmatch(e.qualified_name, pattern)
            ]
        return sorted(found, key=lambda e: e.qualified_name)

    def names(self, pattern: str | None = None) -> list[str]:
        return [e.qualified_name for e in self.entries(pattern)]

    def local_names(self) -> list[str]:
        """Names registered directly in this registry (no children, no loading)."""
        return sorted(self._entries)

    # -- building -----------------------------------------------------------------------------
    def build(self, cfg: Any, *, path: str | None = None, **default_args: Any) -> Any:
        """Build ``cfg`` (a dict with ``type``); see :func:`detplug_core.registry.build`."""
        return build_from_cfg(cfg, self, path=path, default_args=default_args)
