"""A plugin's ``@hookimpl`` functions, checked against the hook specifications when it loads.

pluggy accepts an implementation whose name matches no specification (it would wait for a
specification that never comes, so a misspelt ``after_train_itr`` never runs) and refuses
one that asks for an argument the hook does not pass with a message that names neither the
plugin's distribution nor the arguments the hook offers. detplug checks both when a plugin
is loaded (and when a test registers one with the ``detplug_plugin`` fixture):

* a name that matches no specification: a :class:`~detplug_core.errors.PluginWarning` with
  the closest hook name; in strict mode (``DETPLUG_STRICT_PLUGINS=1``) the plugin fails;
* an argument the hook does not pass: the plugin fails to load (pluggy could not register
  it), the message names the plugin, the hook, the argument and the arguments accepted.

``@hookimpl(optionalhook=True)`` marks an implementation of another plugin's hook and is not
name-checked. Arguments with a default value are never passed by pluggy and are not checked.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator
from typing import Any

from detplug_core import hookspecs
from detplug_core.errors import PluginError, PluginWarning
from detplug_core.hookspecs import PROJECT

_MARK = f"{PROJECT}_impl"


class HookimplError(PluginError):
    """A plugin's ``@hookimpl`` cannot take part: its message names plugin, hook and
    argument."""


def spec_arguments() -> dict[str, tuple[str, ...]]:
    """``{hook name: argument names}`` of every hook specification."""
    return {
        name: tuple(inspect.signature(obj).parameters)
        for name, obj in vars(hookspecs).items()
        if callable(obj) and hasattr(obj, f"{PROJECT}_spec")
    }


def _implementations(plugin: Any) -> Iterator[tuple[str, str, Any, dict]]:
    """``(attribute, hook name, function, options)`` for each ``@hookimpl`` of ``plugin``."""
    for attr in dir(plugin):
        try:
            function = getattr(plugin, attr)
        except Exception:  # a property that raises is no hookimpl
            continue
        options = getattr(function, _MARK, None)
        if isinstance(options, dict):
            yield attr, options.get("specname") or attr, function, options


def _required_arguments(function: Any) -> list[str]:
    """The arguments pluggy would pass by name: those without a default (not self)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]


def hookimpl_problems(plugin: Any, who: str) -> tuple[list[str], list[str]]:
    """``(unknown hooks, wrong arguments)``: one message per problem, each naming ``who``
    (``plugin 'fcos' (detplug-fcos 0.1.0)``)."""
    specs = spec_arguments()
    unknown, wrong = [], []
    for attr, hook, function, options in _implementations(plugin):
        if hook not in specs:
            if options.get("optionalhook"):
                continue
            close = difflib.get_close_matches(hook, specs, n=1, cutoff=0.75)
            hint = f"; did you mean '{close[0]}'?" if close else " (detplug plugins lists hooks)"
            unknown.append(
                f"{who}: @hookimpl '{attr}' matches no detplug hook, so it is never called{hint}"
            )
            continue
        accepted = specs[hook]
        for name in _required_arguments(function):
            if name in accepted:
                continue
            close = difflib.get_close_matches(name, accepted, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            wrong.append(
                f"{who}: @hookimpl {hook}() asks for argument '{name}'{hint}, which {hook} "
                f"does not pass; it passes: {', '.join(accepted) or '(nothing)'}"
            )
    return unknown, wrong


def check_hookimpls(plugin: Any, who: str, *, strict: bool) -> list[str]:
    """Raise :class:`HookimplError` for a wrong argument (or, when ``strict``, an unknown
    hook); warn about unknown hooks otherwise. Returns the warnings given."""
    import warnings

    unknown, wrong = hookimpl_problems(plugin, who)
    if wrong or (strict and unknown):
        suffix = " [strict mode: DETPLUG_STRICT_PLUGINS=1]" if strict and not wrong else ""
        raise HookimplError("; ".join(wrong or unknown) + suffix)
    for message in unknown:
        warnings.warn(message, PluginWarning, stacklevel=3)
    return unknown
