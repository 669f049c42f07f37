"""What fills a root registry tree and explains what is missing from it.

The registry knows nothing of plugins: the plugin loader gives each root registry a
:class:`ComponentSource` (``Registry.set_source``), which loads the installed plugins on the
first lookup or listing and adds to not-found errors what only the loader knows (a plugin that
failed, one that is blocked, the distribution to ``pip install``). A tree without a source
(a test's private tree) simply has none of those hints.
"""

from __future__ import annotations

from typing import Protocol


class ComponentSource(Protocol):
    def load(self) -> None:
        """Import the installed plugins, so that they register (called once per tree)."""

    def blocked_scope(self, scope: str) -> str | None:
        """Why ``scope`` is missing when a blocked plugin provides it
        (``plugin 'fcos' (detplug-fcos 0.1.0) is installed but blocked (...)``), else None."""

    def failed_provider(self, name: str) -> str | None:
        """The whole message when a plugin that failed to load registered ``name``."""

    def missing_hint(self, name: str) -> str:
        """`` It is provided by X: pip install X`` or the blocked plugins that may provide
        it; ``""`` when there is nothing to say."""

    def failures(self) -> str:
        """`` (plugins that failed to load: ...)`` or ``""``."""
