"""Where each key of a config was set: ``"file.yaml:LINE"`` or ``"command line override"``."""

from __future__ import annotations

from collections.abc import Iterator

from detplug_core.config.tree import KeyPath

OVERRIDE = "command line override"


class SourceMap:
    """Maps key paths to the location that set them.

    Replacing a value replaces the locations of its whole sub-tree, so a key never reports a
    file that no longer decides its value.
    """

    def __init__(self, entries: dict[KeyPath, str] | None = None) -> None:
        self._entries: dict[KeyPath, str] = dict(entries or {})

    def set(self, path: KeyPath, location: str) -> None:
        self._entries[path] = location

    def get(self, path: KeyPath) -> str | None:
        return self._entries.get(path)

    def locate(self, path: KeyPath) -> str | None:
        """The location of ``path`` or, if it has none, of its nearest ancestor."""
        for end in range(len(path), 0, -1):
            location = self._entries.get(path[:end])
            if location is not None:
                return location
        return None

    def prune(self, prefix: KeyPath) -> None:
        """Forget ``prefix`` and everything below it."""
        n = len(prefix)
        for path in [p for p in self._entries if p[:n] == prefix]:
            del self._entries[path]

    def replace_subtree(self, prefix: KeyPath, other: SourceMap) -> None:
        """Take ``prefix`` and everything below it from ``other``."""
        self.prune(prefix)
        n = len(prefix)
        for path, location in other._entries.items():
            if path[:n] == prefix:
                self._entries[path] = location

    def take(self, path: KeyPath, other: SourceMap) -> None:
        """Take the location of ``path`` alone from ``other``, if it has one."""
        location = other.get(path)
        if location is not None:
            self._entries[path] = location

    def copy(self) -> SourceMap:
        return SourceMap(self._entries)

    def __iter__(self) -> Iterator[KeyPath]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
