"""detplug configs: YAML/JSON files with ``_base_`` inheritance, ``${...}`` references and
command-line overrides, loaded into a :class:`Config` (a plain ``dict``) that remembers the
file and line of every key. See docs/config.md. Imports no torch.
"""

from __future__ import annotations

from detplug_core.config.config import Config, ConfigKeyError
from detplug_core.config.dump import dump_config
from detplug_core.config.loader import load_config
from detplug_core.config.merge import merge_dicts
from detplug_core.config.overrides import apply_overrides
from detplug_core.config.references import resolve_references

__all__ = [
    "Config",
    "ConfigKeyError",
    "apply_overrides",
    "dump_config",
    "load_config",
    "merge_dicts",
    "resolve_references",
]
