"""Loading config files: YAML or JSON, ``_base_`` files, then overrides and references."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from typing import Any

from detplug_core.config.config import Config
from detplug_core.config.json_format import parse_json
from detplug_core.config.merge import merge_with_sources
from detplug_core.config.overrides import apply_overrides
from detplug_core.config.packaged import is_packaged, resolve_packaged, split_packaged
from detplug_core.config.references import resolve_references
from detplug_core.config.sources import SourceMap
from detplug_core.config.tree import iter_key_paths
from detplug_core.config.yaml_format import parse_yaml
from detplug_core.errors import ConfigError

BASE_KEY = "_base_"
YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Config:
    """Load a config file with its bases, apply ``overrides``, resolve ``${...}``.

    ``path`` and every ``_base_`` entry may name a packaged config as ``SCOPE::path``
    (see :mod:`detplug_core.config.packaged`); other bases are relative to the including file.
    Order: the ``_base_`` files (each with its own bases) merge in the order listed, the file
    itself merges on top, then the overrides apply, then references resolve against the
    result. Every user mistake raises :class:`~detplug_core.errors.ConfigError`.
    """
    filename = os.fspath(path)
    label = filename
    if is_packaged(filename):
        filename = resolve_packaged(filename)
    files: list[tuple[str, str]] = []
    data, sources = _load_with_bases(filename, (), files, label)
    cfg = Config(data, filename=filename, sources=sources, files=_merge_order(files))
    apply_overrides(cfg, overrides)
    resolve_references(cfg)
    return cfg


def read_config_file(filename: str) -> tuple[dict, SourceMap]:
    """One file's own content (``_base_`` not followed) and the line of each key."""
    suffix = os.path.splitext(filename)[1].lower()
    if suffix not in YAML_SUFFIXES + JSON_SUFFIXES:
        raise ConfigError(f"unsupported config file '{filename}': use a .yaml, .yml or .json file")
    try:
        with open(filename, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"config file '{filename}' does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file '{filename}' is a directory") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{_named(filename)}: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file '{filename}': {error.strerror}") from None
    parse = parse_json if suffix in JSON_SUFFIXES else parse_yaml
    data, sources = parse(text, filename)
    if data is None:  # an empty file, or only comments
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{_named(filename)}: the top level of a config must be a mapping of keys to "
            f"values, got {_kind(data)}"
        )
    return data, sources


def _load_with_bases(
    filename: str, chain: tuple[str, ...], files: list[tuple[str, str]], label: str
) -> tuple[dict, SourceMap]:
    """The merged content of ``filename`` and its bases; ``chain`` is the including files.

    ``files`` collects ``(label, file)`` in merge order (bases before the file that names
    them); ``label`` is the name as written when it is ``SCOPE::path``, else the file.
    """
    data, sources = read_config_file(filename)
    merged: dict = {}
    merged_sources = SourceMap()
    here = chain + (filename,)
    for base, where in _base_files(data, sources, filename):
        if is_packaged(base):
            base_path = resolve_packaged(base, where)
        else:
            base_path = os.path.normpath(os.path.join(os.path.dirname(filename), base))
        real = os.path.realpath(base_path)
        real_chain = [os.path.realpath(f) for f in here]
        if real in real_chain:
            cycle = " -> ".join(here[real_chain.index(real) :] + (base_path,))
            raise ConfigError(f"{where}: cyclic _base_: {cycle}")
        if not base_path.lower().endswith(YAML_SUFFIXES + JSON_SUFFIXES):
            raise ConfigError(f"{where}: base file '{base}' is not a .yaml, .yml or .json file")
        if not os.path.isfile(base_path):
            raise ConfigError(f"{where}: base file '{base}' not found (looked for '{base_path}')")
        base_label = base if is_packaged(base) else _label_of_relative(label, base, base_path)
        base_data, base_sources = _load_with_bases(base_path, here, files, base_label)
        merged, merged_sources = merge_with_sources(merged, merged_sources, base_data, base_sources)
    files.append((label, filename))
    return merge_with_sources(merged, merged_sources, data, sources)


def _label_of_relative(label: str, base: str, base_path: str) -> str:
    """A relative base of a packaged config is named ``SCOPE::path`` too."""
    if not is_packaged(label) or os.path.isabs(base):
        return base_path
    scope, path = split_packaged(label)
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), base))
    return base_path if joined.startswith("..") else f"{scope}::{joined}"


def _merge_order(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``files`` without repeats (a base used twice merged first where it first appears)."""
    seen: set[str] = set()
    ordered = []
    for label, path in files:
        if path not in seen:
            seen.add(path)
            ordered.append((label, path))
    return ordered


def _base_files(data: dict, sources: SourceMap, filename: str) -> list[tuple[str, str]]:
    """Pop ``_base_`` from ``data``; return each base name with its ``file:line``."""
    for path in iter_key_paths(data):
        if path[-1] == BASE_KEY and len(path) > 1:
            raise ConfigError(
                f"{sources.locate(path) or filename}: _base_ is only allowed at the top level "
                "of a config file"
            )
    if BASE_KEY not in data:
        return []
    value: Any = data.pop(BASE_KEY)
    where = sources.locate((BASE_KEY,)) or filename
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(
            f"{where}: _base_ must be a file name or a list of file names, got {value!r}"
        )
    located = [
        (os.path.expanduser(name), sources.get((BASE_KEY, i)) or where)
        for i, name in enumerate(names)
    ]
    sources.prune((BASE_KEY,))
    return located


def _kind(value: Any) -> str:
    """``a list``, ``a int (3)``; a long text (a file that is no config, read as one YAML
    string) is cut short: the error names the file, it does not print it."""
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    if len(text) > 60:
        size = f" of {len(value)} characters" if isinstance(value, str) else ""
        return f"a {type(value).__name__}{size} ({text[:50]}...): is this file a config?"
    return f"a {type(value).__name__} ({text})"


def _named(filename: str) -> str:
    """``base.yaml``, or ``base.yaml (a link to /data/notes.txt)`` for a symbolic link."""
    if os.path.islink(filename):
        return f"{filename} (a link to {os.path.realpath(filename)})"
    return filename
