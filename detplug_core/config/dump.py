"""Writing a config as YAML that loads back to an equal config."""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Mapping
from typing import Any

from detplug_core.config.tree import KeyPath, format_key_path
from detplug_core.config.yaml_format import dump_yaml
from detplug_core.errors import ConfigError

_SCALARS = (str, int, float, bool, type(None), datetime.date)


def config_to_yaml(cfg: Mapping) -> str:
    """The YAML text of ``cfg``.

    Loading it gives ``cfg`` back: a literal ``${`` in a string is written as ``$${`` so that
    it is not taken for a reference. Tuples are written as lists.
    """
    return dump_yaml(_dumpable(cfg, ()))


def dump_config(cfg: Mapping, path: str | os.PathLike) -> str:
    """Write ``cfg`` as YAML to ``path`` (atomically, creating folders) and return the text."""
    path = os.fspath(path)
    if path.endswith(".json"):
        raise ConfigError(f"cannot dump to '{path}': configs are written as YAML (.yaml)")
    text = config_to_yaml(cfg)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return text


def _dumpable(value: Any, path: KeyPath) -> Any:
    if isinstance(value, Mapping):
        return {key: _dumpable(item, (*path, key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_dumpable(item, (*path, i)) for i, item in enumerate(value)]
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, _SCALARS):
        return value
    where = format_key_path(path) or "<top level>"
    raise ConfigError(
        f"cannot dump '{where}': a value of type '{type(value).__name__}' is not config data "
        "(use mappings, lists, strings, numbers, booleans or null)"
    )
