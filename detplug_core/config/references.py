"""``${a.b.c}`` references between values of one config.

A string that is exactly ``${a.b}`` takes the referenced value itself (any type, copied); a
reference inside a longer string is replaced by the value's text. References may point at
values that hold references; a cycle is an error. ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import re
from typing import Any

from detplug_core.config.sources import SourceMap
from detplug_core.config.tree import (
    KeyPath,
    child_key,
    format_key_path,
    get_at,
    plain_copy,
    set_at,
    split_key_path,
    suggest,
)
from detplug_core.errors import ConfigError

_WHOLE = re.compile(r"\$\{([^}]*)\}")
# An escaped "$${", a reference, or an unterminated "${".
_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")


def resolve_references(cfg: dict, sources: SourceMap | None = None) -> None:
    """Replace every ``${...}`` in ``cfg`` (in place) by the value it names.

    ``sources`` (a Config's own by default) lets errors name the file and line.
    """
    if sources is None:
        sources = getattr(cfg, "_sources", None) or SourceMap()
    _Resolver(cfg, sources).resolve(())


def _text_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return None
    return str(value)


class _Resolver:
    def __init__(self, root: dict, sources: SourceMap) -> None:
        self.root = root
        self.sources = sources
        self.stack: list[KeyPath] = []  # paths being resolved, outermost first
        self.done: set[KeyPath] = set()  # paths whose whole sub-tree is resolved

    def _is_done(self, path: KeyPath) -> bool:
        return any(path[:end] in self.done for end in range(len(path) + 1))

    def _fail(self, path: KeyPath, message: str) -> ConfigError:
        where = self.sources.locate(path)
        return ConfigError(f"{where}: {message}" if where else message)

    def resolve(self, path: KeyPath) -> Any:
        """Resolve the value at ``path`` and everything below it (in place); return it."""
        if self._is_done(path):
            return get_at(self.root, path)
        if path in self.stack:
            cycle = self.stack[self.stack.index(path) :] + [path]
            chain = " -> ".join(format_key_path(p) for p in cycle if p)
            raise self._fail(path, f"cyclic reference: {chain}")
        self.stack.append(path)
        value = get_at(self.root, path)
        if isinstance(value, str):
            set_at(self.root, path, self._substitute(value, path))
        elif isinstance(value, dict):
            for key in list(value):
                self.resolve((*path, key))
        elif isinstance(value, list):
            for index in range(len(value)):
                self.resolve((*path, index))
        self.stack.pop()
        self.done.add(path)
        return get_at(self.root, path)

    def _substitute(self, text: str, path: KeyPath) -> Any:
        whole = _WHOLE.fullmatch(text)
        if whole:
            return plain_copy(self._lookup(whole.group(1), text, path))
        if "${" not in text:
            return text
        pieces, start = [], 0
        for match in _TOKEN.finditer(text):
            pieces.append(text[start : match.start()])
            start = match.end()
            if match.group(0) == "$${":
                pieces.append("${")
                continue
            if match.group(1) is None:
                raise self._fail(
                    path,
                    f"unterminated reference in {text!r} at '{format_key_path(path)}' "
                    "(write ${a.b}, or $${ for a literal ${)",
                )
            value = self._lookup(match.group(1), text, path)
            piece = _text_of(value)
            if piece is None:
                kind = "mapping" if isinstance(value, dict) else "list"
                raise self._fail(
                    path,
                    f"reference {match.group(0)} at '{format_key_path(path)}' names a {kind}, "
                    "which cannot be put inside a longer string "
                    f"(write the value as exactly '{match.group(0)}' to copy it)",
                )
            pieces.append(piece)
        pieces.append(text[start:])
        return "".join(pieces)

    def _lookup(self, target: str, text: str, holder: KeyPath) -> Any:
        """The fully resolved value of key path ``target``, referenced from ``holder``."""
        name = target.strip()
        try:
            segments = split_key_path(name)
        except ValueError:
            segments = []
        if not segments or any(c in name for c in "${} "):
            raise self._fail(
                holder,
                f"malformed reference ${{{target}}} at '{format_key_path(holder)}': "
                "write a dotted key path such as ${model.num_classes}",
            )
        path: KeyPath = ()
        node: Any = self.root
        for segment in segments:
            key = child_key(node, segment)
            if key is None:
                raise self._fail(
                    holder,
                    f"unknown key '{name}' in reference {text!r} at "
                    f"'{format_key_path(holder)}'{suggest(name, self.root)}",
                )
            path = (*path, key)
            node = node[key]
            if isinstance(node, str) and "${" in node:
                node = self.resolve(path)  # the path may go on through what it names
        return self.resolve(path)
