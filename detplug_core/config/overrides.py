"""Command-line overrides: ``optimizer.lr=0.02``, ``hooks.0.interval=5``, ``+new.key=1``,
``hooks+={type: EMAHook}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from detplug_core.config.config import Config
from detplug_core.config.sources import OVERRIDE, SourceMap
from detplug_core.config.tree import (
    KeyPath,
    child_key,
    format_key_path,
    is_index,
    split_key_path,
    suggest,
)
from detplug_core.config.yaml_format import dump_yaml_inline, parse_yaml_value, yaml_error_message
from detplug_core.errors import ConfigError


def apply_overrides(cfg: dict, overrides: Sequence[str]) -> None:
    """Apply ``KEY=VALUE`` overrides to ``cfg`` in place, in order.

    ``KEY`` is a dotted key path whose list items are indices; it must exist unless written
    ``+KEY``, which adds it (creating mappings on the way; ``+list.N`` with N the list's
    length appends) and is an error when ``KEY`` exists. ``KEY+=VALUE`` appends ``VALUE`` to
    the existing list ``KEY`` (``hooks+={type: EMAHook}``). ``VALUE`` is parsed as YAML
    (``0.02``, ``[1, 2]``, ``true``, ``null``, ``{a: 1}``); an empty ``VALUE`` is the empty
    string. A value replaces the old one whole.
    On a :class:`Config`, the keys set report ``"command line override"`` as their source.
    """
    if isinstance(overrides, str):
        raise TypeError("overrides must be a sequence of 'KEY=VALUE' strings, not one string")
    sources = cfg._sources if isinstance(cfg, Config) else SourceMap()
    for override in overrides:
        _apply_one(cfg, override, sources)


def format_override_value(value: Any) -> str:
    """The text to write after ``KEY=`` so that the override sets exactly ``value``."""
    return dump_yaml_inline(value)


def parse_override_value(text: str, override: str = "") -> Any:
    """The value an override's text stands for (YAML, safe; ``""`` stays a string)."""
    if text == "":
        return ""
    try:
        return parse_yaml_value(text)
    except yaml.YAMLError as error:
        raise ConfigError(
            f"cannot parse the value of override '{override or text}': {yaml_error_message(error)}"
        ) from None


def _apply_one(cfg: dict, override: str, sources: SourceMap) -> None:
    key_text, equals, value_text = override.partition("=")
    add = key_text.startswith("+")
    if add:
        key_text = key_text[1:]
    append = bool(equals) and key_text.endswith("+") and not add
    if append:
        key_text = key_text[:-1]
    try:
        segments = split_key_path(key_text) if equals else []
    except ValueError:
        segments = []
    if not segments:
        raise ConfigError(
            f"malformed override '{override}': expected KEY=VALUE, "
            "e.g. optimizer.lr=0.02, hooks.0.interval=5 or +new.key=1"
        )
    value = parse_override_value(value_text, override)
    node: Any = cfg
    path: KeyPath = ()
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        key = child_key(node, segment)
        if key is not None and add and last:
            raise ConfigError(
                f"'+{key_text}' in override '{override}' adds a key, but '{key_text}' exists "
                f"({_kind(node[key])}); write {key_text}=... to replace it"
                + (f" or {format_key_path(path)}+=... to append" if isinstance(node, list) else "")
            )
        if key is None:
            key = _missing_key(cfg, node, path, segment, last, add, key_text, override)
            if isinstance(node, dict) and not last:
                node[key] = {}
                sources.set((*path, key), OVERRIDE)
        path = (*path, key)
        if last and append:
            if not isinstance(node[key], list):
                raise ConfigError(
                    f"'{key_text}+=' in override '{override}' appends to a list, but "
                    f"'{key_text}' is {_kind(node[key])}"
                )
            node[key].append(value)
            sources.set((*path, len(node[key]) - 1), OVERRIDE)
        elif last:
            if isinstance(node, list) and key == len(node):
                node.append(value)
            else:
                node[key] = value
            sources.prune(path)
            sources.set(path, OVERRIDE)
        else:
            node = node[key]


def _missing_key(
    cfg: dict,
    node: Any,
    path: KeyPath,
    segment: str,
    last: bool,
    add: bool,
    key_text: str,
    override: str,
) -> str | int:
    """The key to add for ``segment`` under ``+``, or raise the error that fits."""
    where = format_key_path(path)
    if isinstance(node, list):
        if not is_index(segment):
            raise ConfigError(
                f"'{where}' is a list; '{segment}' in override '{override}' must be an index "
                f"(0..{len(node) - 1})"
            )
        if add and last and int(segment) == len(node):
            return len(node)  # append
        raise ConfigError(
            f"index {segment} out of range in override '{override}': "
            f"'{where}' has {len(node)} item{'s' if len(node) != 1 else ''}"
        )
    if not isinstance(node, dict):
        raise ConfigError(
            f"cannot set '{key_text}' in override '{override}': '{where}' is "
            f"{_kind(node)}, not a mapping or list"
        )
    if add:
        return segment
    hint = suggest(key_text, cfg) or "."
    raise ConfigError(
        f"unknown key '{key_text}' in override '{override}'{hint} Use +{key_text}=... to add it"
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return f"a {type(value).__name__} ({value!r})"
