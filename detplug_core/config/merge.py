"""Merging a config onto its bases.

Rules: dicts merge key by key, recursively; any other value (list, scalar, or a dict meeting a
non-dict) replaces the base value; a dict holding ``_delete_: true`` replaces the base dict
outright; ``key: {_append_: [items]}`` appends the items to the base's list ``key`` (the
way to add a hook to a recipe's ``hooks:`` without writing the recipe's hooks again).
``_delete_`` and ``_append_`` never appear in a result.
"""

from __future__ import annotations

from typing import Any

from detplug_core.config.sources import SourceMap
from detplug_core.config.tree import KeyPath, format_key_path, plain_copy
from detplug_core.errors import ConfigError

DELETE_KEY = "_delete_"
APPEND_KEY = "_append_"


def merge_dicts(base: dict, top: dict) -> dict:
    """``top`` merged onto ``base``, as a new tree (neither input is changed)."""
    merged, _ = merge_with_sources(base, SourceMap(), top, SourceMap())
    return merged


def merge_with_sources(
    base: dict, base_sources: SourceMap, top: dict, top_sources: SourceMap
) -> tuple[dict, SourceMap]:
    """Like :func:`merge_dicts`, also merging where each key was set (``top`` wins)."""
    sources = base_sources.copy()
    merged = _merge(plain_copy(base), top, (), sources, top_sources)
    return merged, sources


def _wants_delete(top: dict, path: KeyPath, top_sources: SourceMap) -> bool:
    flag = top.get(DELETE_KEY, False)
    if not isinstance(flag, bool):
        key = format_key_path((*path, DELETE_KEY))
        where = top_sources.locate((*path, DELETE_KEY))
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}'{key}' must be true or false, got {flag!r}")
    return flag


def _merge(base: Any, top: dict, path: KeyPath, sources: SourceMap, top_sources: SourceMap) -> dict:
    """Merge ``top`` into ``base`` (a fresh tree this function may change) at ``path``."""
    if not isinstance(base, dict) or _wants_delete(top, path, top_sources):
        sources.replace_subtree(path, top_sources)
        return _check_nested(top, path, top_sources)
    for key, value in top.items():
        if key == DELETE_KEY:
            continue
        child = (*path, key)
        if isinstance(value, dict) and APPEND_KEY in value:
            base[key] = _append(base.get(key), value, child, sources, top_sources)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            sources.take(child, top_sources)
            base[key] = _merge(base[key], value, child, sources, top_sources)
        else:
            sources.replace_subtree(child, top_sources)
            base[key] = _check_nested(value, child, top_sources)
    return base


def _append(
    base: Any, top: dict, path: KeyPath, sources: SourceMap, top_sources: SourceMap
) -> list:
    """``base`` (a list, or missing) followed by the items of ``top[_append_]``."""
    where = top_sources.locate((*path, APPEND_KEY))
    prefix = f"{where}: " if where else ""
    key = format_key_path(path)
    items = top[APPEND_KEY]
    if set(top) != {APPEND_KEY}:
        others = ", ".join(sorted(str(k) for k in top if k != APPEND_KEY))
        raise ConfigError(f"{prefix}'{key}': _append_ stands alone; it was given with {others}")
    if not isinstance(items, list):
        raise ConfigError(f"{prefix}'{key}._append_' must be a list of items, got {items!r}")
    if base is None:
        base = []
    if not isinstance(base, list):
        raise ConfigError(
            f"{prefix}'{key}._append_': the base value of '{key}' is a "
            f"{type(base).__name__}, not a list to append to"
        )
    offset = len(base)
    appended = [
        _check_nested(item, (*path, APPEND_KEY, i), top_sources) for i, item in enumerate(items)
    ]
    mark = (*path, APPEND_KEY)
    for source_path in top_sources:
        if source_path[: len(mark)] == mark and len(source_path) > len(mark):
            index = source_path[len(mark)]
            moved = (*path, offset + index, *source_path[len(mark) + 1 :])
            sources.set(moved, top_sources.get(source_path) or "")
    return base + appended


def _check_nested(value: Any, path: KeyPath, top_sources: SourceMap) -> Any:
    """A copy of a value that replaces the base: validate, then drop, its ``_delete_`` keys."""
    if isinstance(value, dict):
        if APPEND_KEY in value:
            return _append(None, value, path, SourceMap(), top_sources)
        _wants_delete(value, path, top_sources)
        return {
            k: _check_nested(v, (*path, k), top_sources)
            for k, v in value.items()
            if k != DELETE_KEY
        }
    if isinstance(value, list | tuple):
        return [_check_nested(item, (*path, i), top_sources) for i, item in enumerate(value)]
    return value
