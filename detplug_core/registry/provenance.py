"""Which distribution provides a component: recorded once, when the component registers.

The plugin loader tells this module, before it imports anything, which top-level package
belongs to which plugin (:func:`claim_packages`), and which plugin it is importing
(:func:`loading`). A registration is then attributed, at the moment it happens, to:

1. the plugin whose package holds the module that calls ``register`` (a plugin that imports
   another plugin's package, as detplug-coco imports detplug-torchvision, does not become
   the owner of what that package registers);
2. else the plugin being loaded (its entry-point module registers from a helper package that
   no plugin claims);
3. else the module's own top-level package (user code, tests, a plugin module imported before
   the loader ran), with no version.

Everything that names a provider (``detplug registry``, ``detplug plugins``, ambiguity and
build errors, hook errors) reads the recorded :class:`Provenance`; nothing guesses it later.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Provenance:
    """Who registered a name: the plugin (entry-point name; None for the core and for code
    outside any plugin), its distribution and version, and the top-level package."""

    plugin: str | None
    distribution: str
    version: str | None
    package: str

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}" if self.version else self.distribution

    def describe(self) -> str:
        """``plugin 'fcos' (detplug-fcos 0.1.0)``, ``detplug-core`` or ``package mycode``."""
        if self.plugin is not None:
            return f"plugin '{self.plugin}' ({self})"
        return self.distribution if self.package == CORE_PACKAGE else f"package {self.package}"


CORE_PACKAGE = "detplug_core"
CORE = Provenance(None, "detplug-core", None, CORE_PACKAGE)

_CLAIMED: dict[str, Provenance] = {CORE_PACKAGE: CORE}
_LOADING: ContextVar[Provenance | None] = ContextVar("detplug_loading_plugin", default=None)
_ORIGIN: dict[int, tuple[Any, Provenance]] = {}  # id(obj) -> (obj, provenance)


def claim_packages(owners: Iterable[Provenance]) -> None:
    """Record each plugin's top-level package as its own (the loader, before importing)."""
    for owner in owners:
        if owner.package != CORE_PACKAGE:
            _CLAIMED[owner.package] = owner


@contextmanager
def loading(plugin: Provenance) -> Iterator[None]:
    """Registrations from unclaimed packages inside this block belong to ``plugin``."""
    token = _LOADING.set(plugin)
    try:
        yield
    finally:
        _LOADING.reset(token)


def provenance_for(module: str) -> Provenance:
    """The provenance of a registration made by code of ``module`` (rules above)."""
    package = module.partition(".")[0] or "?"
    claimed = _CLAIMED.get(package)
    if claimed is not None:
        return claimed
    current = _LOADING.get()
    if current is not None:
        return current
    return Provenance(None, package, None, package)


def record(obj: Any, provenance: Provenance) -> None:
    """Remember who first registered ``obj`` (the registry calls this)."""
    _ORIGIN.setdefault(id(obj), (obj, provenance))


def provenance_of(obj: Any) -> Provenance | None:
    """Who registered ``obj`` (in any registry), or None if nobody did."""
    found = _ORIGIN.get(id(obj))
    return found[1] if found is not None and found[0] is obj else None


def provider_of(obj: Any) -> str:
    """For error messages: the recorded provider of ``obj``, else the module defining it."""
    origin = provenance_of(obj)
    if origin is not None:
        return origin.describe()
    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", None)
    return f"module {module}" if module else "unknown provider"
