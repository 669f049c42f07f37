"""The :class:`Config` object: a plain ``dict`` that knows where each of its keys was set."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from detplug_core.config.dump import config_to_yaml, dump_config
from detplug_core.config.sources import SourceMap
from detplug_core.config.tree import get_at, plain_copy, resolve_key_path, suggest
from detplug_core.errors import ConfigError

_MISSING: Any = object()


class ConfigKeyError(ConfigError, KeyError):
    """A key path names no value of the config (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Config(dict):
    """A resolved config. Behaves exactly like the ``dict`` it is; nested values are plain
    dicts and lists, so components receive ordinary data.

    ``filename`` is the file it was loaded from (None when built in code); ``files`` lists
    ``(name, file)`` of every file merged into it, in merge order (``name`` is ``SCOPE::path``
    for a packaged config, else the file).
    """

    def __init__(
        self,
        data: Mapping | None = None,
        /,
        *,
        filename: str | None = None,
        sources: SourceMap | None = None,
        files: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(data or {})
        self.filename = filename
        self.files = list(files or [])
        self._sources = sources if sources is not None else SourceMap()

    @classmethod
    def from_dict(cls, data: Mapping, filename: str | None = None) -> Config:
        """A Config holding a plain deep copy of ``data`` (references are not resolved)."""
        return cls(plain_copy(data), filename=filename)

    def to_dict(self) -> dict:
        """A deep copy made of plain dicts and lists (what a checkpoint should store)."""
        return plain_copy(self)

    def dump(self, path: str | os.PathLike | None = None) -> str:
        """The config as YAML text; also written to ``path`` when given."""
        if path is None:
            return config_to_yaml(self)
        return dump_config(self, path)

    def source_of(self, key_path: str) -> str | None:
        """Where ``key_path`` was set: ``"file.yaml:LINE"`` or ``"command line override"``.

        None when the key path does not exist (or was set in code). A value copied by a
        ``${...}`` reference reports the line of the key holding the reference.
        """
        path = resolve_key_path(self, key_path)
        if path is None:
            return None
        return self._sources.locate(path)

    def get_path(self, key_path: str, default: Any = _MISSING) -> Any:
        """The value at a dotted key path such as ``"model.head.num_classes"`` or
        ``"hooks.0.interval"``; ``default`` (if given) when it does not exist."""
        path = resolve_key_path(self, key_path)
        if path is not None:
            return get_at(self, path)
        if default is not _MISSING:
            return default
        where = f" of {self.filename}" if self.filename else ""
        raise ConfigKeyError(f"no key '{key_path}' in the config{where}{suggest(key_path, self)}")

    def copy(self) -> Config:
        """A shallow copy that is still a Config."""
        return Config(self, filename=self.filename, sources=self._sources.copy(), files=self.files)

    def __repr__(self) -> str:
        return f"Config({dict.__repr__(self)}, filename={self.filename!r})"
