"""Value checks for hook arguments: one clear ``BuildError`` per bad value.

Unknown argument names are caught earlier by the registry's build (key path, suggestion,
accepted parameters); these checks cover values of known arguments, and name the hook and
the argument the same way: ``EarlyStoppingHook.rule: must be one of ...``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from detplug_core.errors import BuildError


def _fail(hook: str, key: str, expected: str, value: Any) -> BuildError:
    return BuildError(f"{hook}.{key}: must be {expected}, got {value!r}")


def check_int(hook: str, key: str, value: Any, *, minimum: int = 1) -> int:
    """An integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(hook, key, f"an integer >= {minimum}", value)
    return value


def check_optional_int(hook: str, key: str, value: Any, *, minimum: int = 1) -> int | None:
    return None if value is None else check_int(hook, key, value, minimum=minimum)


def check_float(
    hook: str,
    key: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number in the interval given by ``low``/``high`` (closed by default)."""
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    expected = f"a number in {lo}{low}, {high}{hi}"
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise _fail(hook, key, expected, value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise _fail(hook, key, expected, value)
    return float(value)


def check_choice(hook: str, key: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise _fail(hook, key, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def check_bool(hook: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(hook, key, "true or false", value)
    return value


def check_str(hook: str, key: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(hook, key, "a non-empty string", value)
    return value
