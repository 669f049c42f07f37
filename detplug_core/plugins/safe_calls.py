"""Calling plugin-level hooks one plugin at a time, so a failure names its plugin.

A plugin's ``detplug_cli_commands`` that raises must not take ``detplug plugins`` or the
other plugins' commands down: :func:`cli_commands_by_plugin` reports it and goes on. A
raising ``detplug_adjust_config`` stops the run with one line naming the plugin
(:func:`call_adjust_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detplug_core.errors import ComponentError, DetplugError


def describe_plugin(name: str) -> str:
    """``plugin 'NAME' (DIST VERSION)`` for a plugin registered under ``name``."""
    from detplug_core.plugins.state import records

    for record in records():
        if record.name == name:
            return f"plugin '{name}' ({record.distribution} {record.version})"
    return f"plugin '{name}'"


def _first_line(err: BaseException) -> str:
    text = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def cli_commands_by_plugin(pm: Any) -> list[tuple[str, Any, list, str | None]]:
    """``(plugin name, plugin object, commands, error)`` for each ``detplug_cli_commands``
    implementation in call order; ``error`` is one line when the hook raised."""
    out = []
    for impl in reversed(pm.hook.detplug_cli_commands.get_hookimpls()):
        try:
            commands, error = list(impl.function() or []), None
        except Exception as err:  # a broken plugin must not hide the others' commands
            commands = []
            error = f"its detplug_cli_commands hook failed: {_first_line(err)}"
        out.append((impl.plugin_name, impl.plugin, commands, error))
    return out


def call_adjust_config(pm: Any, config: Mapping) -> None:
    """Call every ``detplug_adjust_config`` in pluggy's order (``detplug train``, ``test``
    and ``config`` alike). A hook that refuses the config with a DetplugError stops with
    that error (exit 2) prefixed by its plugin; any other exception is a bug in the plugin:
    a :class:`ComponentError` (exit 1) naming it."""
    impls = list(reversed(pm.hook.detplug_adjust_config.get_hookimpls()))
    if any(getattr(i, "hookwrapper", False) or getattr(i, "wrapper", False) for i in impls):
        pm.hook.detplug_adjust_config(config=config)  # wrappers need pluggy's own call
        return
    for impl in impls:
        try:
            impl.function(config=config)
        except DetplugError as err:
            try:
                named = type(err)(f"{describe_plugin(impl.plugin_name)}: {err}")
            except TypeError:  # an error class with another constructor
                raise err from None
            raise named from err
        except Exception as err:
            raise ComponentError(
                f"{describe_plugin(impl.plugin_name)}: its detplug_adjust_config hook failed: "
                f"{_first_line(err)} (a bug in that plugin; block it with -p no:"
                f"{impl.plugin_name}; --debug shows the traceback)"
            ) from err
