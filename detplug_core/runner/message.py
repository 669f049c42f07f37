"""``runner.message``: the numbers hooks add to the next training log line.

A hook writes ``runner.message["my_hook/value"] = x`` (or ``update``/``setdefault``). What it
accepts: a key that is a non-empty string, and a value that is a real number (``int`` or
``float``, not ``bool``) or a one-element tensor (kept as it is; the log line turns it into a
float with the losses, so writing it costs no device sync). Anything else (a string, a list,
a tensor of several elements) is refused at once with a :class:`MessageError` naming the
key, which stops the run naming the hook that wrote it; nothing is dropped silently.

The keys the log line writes itself are reserved (:data:`RESERVED`: ``lr``, ``eta``,
``time``, ``data_time``, ``memory``, ``loss``, the total of the losses, and ``grad_norm``);
a hook that writes one is refused with the same error. The runner fills them, and the
evaluation metrics, through :meth:`Message.publish`, which other hooks then read.

Each value joins the next log line and ``scalars.jsonl`` record once, and is then removed.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from detplug_core.errors import DetplugError

RESERVED = frozenset({"lr", "eta", "time", "data_time", "memory", "loss", "grad_norm"})


class MessageError(DetplugError):
    """A hook put something into ``runner.message`` that cannot be logged."""


def check_entry(key: Any, value: Any) -> None:
    """Refuse what ``runner.message`` does not accept (module docstring)."""
    if not isinstance(key, str) or not key:
        raise MessageError(f"runner.message: keys are non-empty strings, got {key!r}")
    if key in RESERVED:
        raise MessageError(
            f"runner.message[{key!r}]: '{key}' is written by the runner's log line "
            f"(reserved: {', '.join(sorted(RESERVED))}); use your own name, e.g. 'myhook/{key}'"
        )
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) or _is_scalar_tensor(value)):
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise MessageError(
            f"runner.message[{key!r}]: expected a number or a one-element tensor, got "
            f"{type(value).__name__} {shown}"
        )


def _is_scalar_tensor(value: Any) -> bool:
    numel = getattr(value, "numel", None)
    return callable(numel) and hasattr(value, "item") and numel() == 1


class Message(dict):
    """A dict that refuses what cannot be logged (module docstring)."""

    def __setitem__(self, key: str, value: Any) -> None:
        check_entry(key, value)
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def publish(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """The runner's own entries (the log line's values, evaluation metrics)."""
        super().update(values)
