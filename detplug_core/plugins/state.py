"""What the loader found: one record per plugin, kept for the life of the process.

Imports are process-wide, so the record of which plugin modules were imported is too; the
pluggy PluginManager built from it is not (one per Runner or CLI invocation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

from detplug_core.registry.provenance import Provenance


@dataclass
class PluginRecord:
    name: str  # entry-point name
    distribution: str
    version: str
    module_name: str  # entry-point value
    status: str = "pending"  # loaded | blocked | failed | not-autoloaded | pending
    error: str | None = None
    module: ModuleType | None = field(default=None, repr=False)
    traceback: str | None = field(default=None, repr=False)
    failed_components: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a hookimpl no hook calls

    @property
    def package(self) -> str:
        return self.module_name.split(":")[0].split(".")[0]

    @property
    def provenance(self) -> Provenance:
        """What the registries record for the components this plugin registers."""
        return Provenance(self.name, self.distribution, self.version, self.package)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module_name,
            "status": self.status,
            "error": self.error,
            "warnings": list(self.warnings),
        }


_RECORDS: list[PluginRecord] = []


def records() -> list[PluginRecord]:
    return list(_RECORDS)


def set_records(new: list[PluginRecord]) -> None:
    _RECORDS[:] = new


def failed_plugins() -> list[PluginRecord]:
    return [r for r in _RECORDS if r.status == "failed"]


def blocked_plugins() -> list[PluginRecord]:
    return [r for r in _RECORDS if r.status == "blocked"]


def blocked_text(record: PluginRecord) -> str:
    """``plugin 'fcos' (detplug-fcos 0.1.0) is installed but blocked (-p no:fcos or
    DETPLUG_DISABLE_PLUGINS)``."""
    return (
        f"plugin '{record.name}' ({record.distribution} {record.version}) is installed but "
        f"blocked (-p no:{record.name} or DETPLUG_DISABLE_PLUGINS); remove the block to use it"
    )
