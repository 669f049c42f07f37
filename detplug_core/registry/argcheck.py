"""Config values a component refuses: checked before the call, named after it.

Two steps make a wrong-typed config value (``model.head.num_classes=[3]``,
``optimizer.lr=fast``) one line that names the key path and the value instead of a
traceback from deep inside the component:

A component's own checks run first and keep their messages (a DetplugError it raises wins);
a value that certainly misfits is refused even when the component accepted it silently.

1. :func:`check_arguments` compares each config value with the parameter's type annotation
   and refuses values that are *certainly* wrong: a string or a list where a number is
   annotated, a number where a list is, a non-mapping where a mapping is. Whatever it cannot
   judge (a class it does not know, a forward reference it cannot resolve) passes.
2. :func:`explain_refusal` turns a ``TypeError``/``ValueError`` that the component raised while
   being built into a :class:`~detplug_core.errors.BuildError` naming the argument when the
   message names it (by name or by value), else the component's own key path.
"""

from __future__ import annotations

import collections.abc as cabc
import numbers
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

from detplug_core.errors import BuildError, RefusedTypeError, RefusedValueError

_UNKNOWN = object()


def _hints(obj: Any) -> dict[str, Any]:
    target = obj.__init__ if isinstance(obj, type) else obj
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable forward references, C functions, ...: judge nothing
        return {}


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number)


def _matches(annotation: Any, value: Any) -> bool | object:
    """True/False when ``value`` (plain config data) certainly fits/misfits ``annotation``;
    ``_UNKNOWN`` when that cannot be told."""
    if annotation is Any or annotation is object:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        results = [_matches(arg, value) for arg in typing.get_args(annotation)]
        if any(r is True for r in results):
            return True
        return _UNKNOWN if any(r is _UNKNOWN for r in results) else False
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    base = origin or annotation
    if base is bool:
        return isinstance(value, bool | int)
    if base in (int, float, complex, numbers.Number, numbers.Real, numbers.Integral):
        return _is_number(value)
    if base is str:
        return isinstance(value, str) or _UNKNOWN
    if base in (list, tuple, cabc.Sequence, cabc.MutableSequence, set, frozenset):
        return isinstance(value, list | tuple | set | frozenset)
    if base in (dict, cabc.Mapping, cabc.MutableMapping):
        return isinstance(value, Mapping)
    try:
        import torch

        if base is torch.Tensor:  # config data is never a tensor
            return False
    except ImportError:  # pragma: no cover - torch is a dependency of every component
        pass
    return _UNKNOWN


def _describe(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if typing.get_origin(annotation) is None else None
    text = text or str(annotation).replace("typing.", "")
    return text.replace("NoneType", "None")


def find_mismatch(obj: Any, args: Mapping[str, Any], where: str, name: str) -> BuildError | None:
    """A BuildError for the first config value that certainly does not fit ``obj``'s
    annotations, or None."""
    hints = _hints(obj)
    for key, value in args.items():
        annotation = hints.get(key)
        if annotation is None or isinstance(value, type):
            continue
        if _matches(annotation, value) is False:
            err = BuildError(
                f"{where}.{key}: {name} expects {_describe(annotation)}, got {value!r}"
            )
            err.key_path = f"{where}.{key}"
            return err
    return None


def check_arguments(obj: Any, args: Mapping[str, Any], where: str, name: str) -> None:
    """Raise :func:`find_mismatch`'s error, if any."""
    err = find_mismatch(obj, args, where, name)
    if err is not None:
        raise err


def explain_refusal(
    err: TypeError | ValueError, args: Mapping[str, Any], where: str, name: str, provider: str
) -> BuildError | None:
    """A BuildError for a TypeError/ValueError raised while ``obj(**args)`` ran, naming
    the argument; None when the message names none of the config's arguments."""
    text = (str(err).strip().splitlines() or [""])[0]
    key = _named_argument(text, args)
    if key is None:
        return None
    path = f"{where}.{key}"
    kind = RefusedTypeError if isinstance(err, TypeError) else RefusedValueError
    built = kind(
        f"{path}: {name} ({provider}) refused the value {args[key]!r}: {type(err).__name__}: {text}"
    )
    built.key_path = path
    return built


def _named_argument(text: str, args: Mapping[str, Any]) -> str | None:
    for key in args:
        if re.search(rf"\b{re.escape(key)}\b", text):
            return key
    for key, value in args.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            if re.search(rf"(?<![\w.]){re.escape(repr(value))}(?![\w.])", text):
                return key
    return None
