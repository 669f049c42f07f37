"""Which plugin provides a component: the one accessor error messages use.

Today the answer is derived from the object's top-level package and the loader's plugin
records; when registries record provenance at registration, this function reads that
instead and its callers stay as they are.
"""

from __future__ import annotations

from typing import Any


def provider_of(obj: Any) -> str:
    """``plugin 'fcos' (detplug-fcos 0.1.0)``, ``detplug-core``, or the package name."""
    from detplug_core.plugins.state import record_for_package

    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "") or ""
    package = module.split(".")[0]
    if package == "detplug_core":
        return "detplug-core"
    record = record_for_package(package)
    if record is not None:
        return f"plugin '{record.name}' ({record.distribution} {record.version})"
    return package or "unknown provider"
