"""JSON reading with the line of every key (``json`` itself does not report positions)."""

from __future__ import annotations

import bisect
import json
from typing import Any

from detplug_core.config.sources import SourceMap
from detplug_core.config.tree import KeyPath
from detplug_core.errors import ConfigError

_WHITESPACE = " \t\r\n"


def parse_json(text: str, filename: str) -> tuple[Any, SourceMap]:
    """Parse JSON; return the data and the ``file:line`` of every key path.

    A key written twice in one object is an error, as in YAML configs.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{filename}:{error.lineno}:{error.colno}: {error.msg}") from None
    scanner = _LineScanner(text, filename)
    scanner.value(())
    return data, scanner.sources


class _LineScanner:
    """Walks text that ``json.loads`` accepted and notes the line of each key and item."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.pos = 0
        self.sources = SourceMap()
        self._line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def line(self) -> int:
        return bisect.bisect_right(self._line_starts, self.pos)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def value(self, path: KeyPath) -> None:
        self.skip_space()
        char = self.text[self.pos]
        if char == "{":
            self.object(path)
        elif char == "[":
            self.array(path)
        elif char == '"':
            self.string()
        else:  # number, true, false, null, NaN, Infinity
            while self.pos < len(self.text) and self.text[self.pos] not in ",]}" + _WHITESPACE:
                self.pos += 1

    def string(self) -> str:
        value, self.pos = json.decoder.scanstring(self.text, self.pos + 1)
        return value

    def object(self, path: KeyPath) -> None:
        self.pos += 1  # {
        seen: dict[str, int] = {}
        self.skip_space()
        while self.text[self.pos] != "}":
            self.skip_space()
            line = self.line()
            key = self.string()
            if key in seen:
                raise ConfigError(
                    f"{self.filename}:{line}: duplicate key {key!r} (first set at line {seen[key]})"
                )
            seen[key] = line
            self.sources.set((*path, key), f"{self.filename}:{line}")
            self.skip_space()
            self.pos += 1  # :
            self.value((*path, key))
            self.skip_space()
            if self.text[self.pos] == ",":
                self.pos += 1
                self.skip_space()
        self.pos += 1  # }

    def array(self, path: KeyPath) -> None:
        self.pos += 1  # [
        index = 0
        self.skip_space()
        while self.text[self.pos] != "]":
            self.skip_space()
            self.sources.set((*path, index), f"{self.filename}:{self.line()}")
            self.value((*path, index))
            index += 1
            self.skip_space()
            if self.text[self.pos] == ",":
                self.pos += 1
                self.skip_space()
        self.pos += 1  # ]
