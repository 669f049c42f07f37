"""detplug's environment switches: one reader for every ``DETPLUG_*`` variable.

=============================  =======  ==============================================
variable                       kind     meaning
=============================  =======  ==============================================
``DETPLUG_PLUGINS_AUTOLOAD``   flag     0: import no entry point unless named (``-p``)
``DETPLUG_STRICT_PLUGINS``     flag     1: a plugin that fails to load is fatal
``DETPLUG_DISABLE_PLUGINS``    names    plugins to block (like ``-p no:NAME``)
``DETPLUG_TRACE_HOOKS``        names    1/all: print every hook call; or the hooks to trace
``DETPLUG_MALLOC_TUNING``      flag     0: the CLI leaves glibc's malloc thresholds alone
``DETPLUG_OFFLINE``            flag     1: never download published weights
``DETPLUG_PROGRESS``           choice   ``bar`` or ``lines`` (default: bar on a terminal)
``DETPLUG_CACHE``              path     where generated data is cached
=============================  =======  ==============================================

A flag is off when set to ``0``, ``false``, ``no`` or ``off`` (any case), on when set to
anything else, and its default when unset or empty. This module imports nothing heavy.
"""

from __future__ import annotations

import os

TRACE_HOOKS = "DETPLUG_TRACE_HOOKS"
OFF = frozenset({"0", "false", "no", "off"})
ALL = frozenset({"1", "true", "yes", "on", "all", "*"})


def env_flag(name: str, default: bool) -> bool:
    """An on/off switch (see the module docstring)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    return value.lower() not in OFF


def env_names(name: str) -> set[str]:
    """A comma-separated list of names (empty when unset)."""
    return {part.strip() for part in os.environ.get(name, "").split(",") if part.strip()}


def env_selection(name: str) -> set[str] | None:
    """A switch that is off, on for everything, or on for some names:
    ``None`` (unset or off), ``{"*"}`` (``1``, ``true``, ``all``, ...) or the listed names."""
    value = os.environ.get(name, "").strip()
    if not value or value.lower() in OFF:
        return None
    if value.lower() in ALL:
        return {"*"}
    return env_names(name)


def env_choice(name: str, choices: tuple[str, ...]) -> str | None:
    """One of ``choices`` (any case), or None when unset or another value."""
    value = os.environ.get(name, "").strip().lower()
    return value if value in choices else None
