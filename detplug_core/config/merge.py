"""Merging a config onto its bases.

Rules: dicts merge key by key, recursively; any other value (list, scalar, or a dict meeting a
non-dict) replaces the base value; a dict holding ``_delete_: true`` replaces the base dict
outright. ``_delete_`` never appears in a result.
"""

from __future__ import annotations

from typing import Any

from detplug_core.config.sources import SourceMap
from detplug_core.config.tree import KeyPath, format_key_path, plain_copy
from detplug_core.errors import ConfigError

DELETE_KEY = "_delete_"


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
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            sources.take(child, top_sources)
            base[key] = _merge(base[key], value, child, sources, top_sources)
        else:
            sources.replace_subtree(child, top_sources)
            base[key] = _check_nested(value, child, top_sources)
    return base


def _check_nested(value: Any, path: KeyPath, top_sources: SourceMap) -> Any:
    """A copy of a value that replaces the base: validate, then drop, its ``_delete_`` keys."""
    if isinstance(value, dict):
        _wants_delete(value, path, top_sources)
        return {
            k: _check_nested(v, (*path, k), top_sources)
            for k, v in value.items()
            if k != DELETE_KEY
        }
    if isinstance(value, list | tuple):
        return [_check_nested(item, (*path, i), top_sources) for i, item in enumerate(value)]
    return value
