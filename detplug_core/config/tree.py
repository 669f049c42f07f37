"""Walking nested dict/list config trees by key path (``model.head.num_classes``, ``hooks.0``).

A key path is a tuple of dict keys and list indices; its text form joins them with dots.
List items are addressed by integer index, negative indices count from the end.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

Key = str | int
KeyPath = tuple[Key, ...]

_INDEX = re.compile(r"-?[0-9]+")


def split_key_path(text: str) -> list[str]:
    """Split ``"a.b.0"`` into its segments; raise ``ValueError`` on an empty segment."""
    parts = text.split(".")
    if any(part == "" for part in parts):
        raise ValueError(f"malformed key path {text!r}")
    return parts


def format_key_path(path: KeyPath) -> str:
    """The text form of a key path: ``("hooks", 0, "interval")`` -> ``"hooks.0.interval"``."""
    return ".".join(str(key) for key in path)


def is_index(segment: str) -> bool:
    """Whether a key path segment is a list index (``0``, ``-1``)."""
    return _INDEX.fullmatch(segment) is not None


def child_key(container: Any, segment: str) -> Key | None:
    """The real key or (non-negative) index ``segment`` names in ``container``, or None."""
    if isinstance(container, Mapping):
        if segment in container:
            return segment
        if _INDEX.fullmatch(segment) and int(segment) in container:
            return int(segment)  # YAML keys like ``1: ...`` are ints
        return None
    if isinstance(container, list) and _INDEX.fullmatch(segment):
        index = int(segment)
        if -len(container) <= index < len(container):
            return index % len(container)
    return None


def resolve_key_path(data: Any, text: str) -> KeyPath | None:
    """The key path ``text`` names in ``data`` (with real keys), or None where it is absent."""
    try:
        segments = split_key_path(text)
    except ValueError:
        return None
    path: list[Key] = []
    node = data
    for segment in segments:
        key = child_key(node, segment)
        if key is None:
            return None
        path.append(key)
        node = node[key]
    return tuple(path)


def get_at(data: Any, path: KeyPath) -> Any:
    """The value at an existing key path."""
    for key in path:
        data = data[key]
    return data


def set_at(data: Any, path: KeyPath, value: Any) -> None:
    """Replace the value at an existing, non-empty key path."""
    get_at(data, path[:-1])[path[-1]] = value


def iter_key_paths(data: Any, prefix: KeyPath = ()) -> Iterator[KeyPath]:
    """Every key path inside ``data``, parents before their children."""
    if isinstance(data, Mapping):
        items: Any = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return
    for key, value in items:
        path = (*prefix, key)
        yield path
        yield from iter_key_paths(value, path)


def suggest(wanted: str, data: Any) -> str:
    """``"; did you mean 'x'?"`` for the key paths of ``data`` closest to ``wanted``, or ``""``.

    Key paths as deep as ``wanted`` are tried first, then all; only the best matches (and
    near-ties) are named.
    """
    candidates = [format_key_path(path) for path in iter_key_paths(data)]
    depth = wanted.count(".")
    matches = _closest(wanted, [c for c in candidates if c.count(".") == depth])
    matches = matches or _closest(wanted, candidates)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(repr(m) for m in matches) + "?"


def _closest(wanted: str, candidates: list[str]) -> list[str]:
    matcher = difflib.SequenceMatcher(b=wanted)
    scored = []
    for candidate in candidates:
        matcher.set_seq1(candidate)
        if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6:
            scored.append((matcher.ratio(), candidate))
    scored = sorted((s for s in scored if s[0] >= 0.6), key=lambda s: -s[0])
    if not scored:
        return []
    best = scored[0][0]
    return [candidate for score, candidate in scored[:3] if score >= best - 0.05]


def plain_copy(value: Any) -> Any:
    """A deep copy made of plain ``dict`` and ``list`` (mappings -> dict, tuples -> list).

    Unlike ``copy.deepcopy`` it never shares a sub-tree between two places, so a YAML alias
    or a ``${...}`` reference yields an independent copy that an override cannot reach twice.
    """
    if isinstance(value, Mapping):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_copy(item) for item in value]
    return value
