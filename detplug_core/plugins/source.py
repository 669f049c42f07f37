"""The installed plugins as the source of the root registries (see registry/source.py).

:func:`connect` gives every root registry this source, so the first lookup or listing loads
the plugins and not-found errors name a plugin that failed or is blocked, or the distribution
to install. The registry itself never imports this package: the arrow runs plugins -> registry.
"""

from __future__ import annotations

from detplug_core.plugins import state
from detplug_core.plugins.catalog import blocked_providers_hint, install_hint
from detplug_core.plugins.loader import ensure_loaded


class InstalledPlugins:
    """The :class:`~detplug_core.registry.source.ComponentSource` of the root registries."""

    def load(self) -> None:
        ensure_loaded()

    def blocked_scope(self, scope: str) -> str | None:
        for record in state.blocked_plugins():
            if scope in (record.name, record.package):
                return state.blocked_text(record)
        return None

    def failed_provider(self, name: str) -> str | None:
        for record in state.failed_plugins():
            if any(q.rpartition(".")[2] == name for q in record.failed_components):
                return (
                    f"'{name}' is provided by plugin '{record.name}' ({record.distribution} "
                    f"{record.version}), which failed to load: {record.error}"
                )
        return None

    def missing_hint(self, name: str) -> str:
        return install_hint(name) + blocked_providers_hint(name)

    def failures(self) -> str:
        failed = state.failed_plugins()
        if not failed:
            return ""
        return (
            " (plugins that failed to load: "
            + ", ".join(f"{f.name} from {f.distribution}: {f.error}" for f in failed)
            + ")"
        )


def connect() -> None:
    """Make the installed plugins the source of every root registry."""
    from detplug_core.registry.roots import ROOT_REGISTRIES

    source = InstalledPlugins()
    for root in ROOT_REGISTRIES.values():
        root.set_source(source)
