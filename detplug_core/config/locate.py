"""Add the file and line a key came from to errors about that key (docs/config.md).

Errors raised while a run is built carry the key path they are about
(``DetplugError.key_path``); :func:`located_errors` prefixes their message with the place
the config set that key, or the nearest enclosing key it set:
``configs/x.yaml:14: model.head.num_classes: FCOSHead expects int, got [3]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from detplug_core.errors import DetplugError


def source_near(cfg: Mapping, key_path: str) -> str | None:
    """Where ``key_path`` (or the nearest enclosing key) was set, if ``cfg`` knows."""
    source_of = getattr(cfg, "source_of", None)
    if source_of is None:
        return None
    parts = key_path.split(".")
    while parts:
        try:
            found = source_of(".".join(parts))
        except (KeyError, ValueError, TypeError, IndexError):
            found = None
        if found:
            return found
        parts.pop()
    return None


@contextmanager
def located_errors(cfg: Mapping) -> Iterator[None]:
    """Prefix errors that name a key path with the key's file and line."""
    try:
        yield
    except DetplugError as err:
        if err.key_path and err.args and isinstance(err.args[0], str):
            where = source_near(cfg, err.key_path)
            if where and not err.args[0].startswith(where):
                err.args = (f"{where}: {err.args[0]}", *err.args[1:])
        raise
