"""What a checkpoint reader says when a file cannot be used: pure functions, no I/O but
``Path.is_dir``/``is_file``, so that whichever reader loads checkpoints gives the same
one-line messages.

* :func:`refused_message`: ``torch.load(weights_only=True)`` refused a pickle that asks for a
  Python global (a ``__reduce__`` payload calling ``os.system``, a class). The message says
  the file was refused because loading it would run code and names the global; it never
  repeats torch's advice to retry with ``weights_only=False``.
* :func:`mismatch_message`: a state dict that does not fit the model, with the first
  missing, unexpected and shape-mismatched keys and how many of each.
* :func:`resolve_checkpoint_path`: ``--resume DIR`` means ``DIR/latest.pth``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from detplug_core.errors import CheckpointError

LATEST = "latest.pth"

# torch's texts for a refused global, across versions:
#   "Trying to load unsupported GLOBAL posix.system whose module posix is blocked."
#   "Unsupported global: GLOBAL os.system was not an allowed global by default."
#   "Unsupported class numpy.core.multiarray._reconstruct"
_GLOBAL = re.compile(
    r"(?:unsupported\s+GLOBAL|Unsupported global:\s*GLOBAL|Unsupported class)\s+([\w.]+)",
    re.IGNORECASE,
)
_REFUSED_HINTS = ("weights only load failed", "unsupported global", "unsupported class")


def refused_global(torch_text: str) -> str | None:
    """The ``module.name`` a refused pickle asked for, or None if ``torch_text`` (the text
    of torch's ``UnpicklingError``) is not about a refused global."""
    match = _GLOBAL.search(torch_text)
    if match:
        return match.group(1).rstrip(".")
    low = torch_text.lower()
    if any(hint in low for hint in _REFUSED_HINTS) and "global" in low:
        return "an unnamed global"
    return None


def refused_message(path: str | os.PathLike, torch_text: str) -> str | None:
    """One line for a checkpoint refused because it would run code (None if it was not)."""
    name = refused_global(torch_text)
    if name is None:
        return None
    return (
        f"checkpoint {path} was refused: loading it would run code ({name}), which a "
        "detplug checkpoint never contains; nothing in it was run. Do not use this file "
        "unless you know who made it and why"
    )


def _first(keys: list[str], limit: int) -> str:
    more = ", ..." if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def compare_state_dicts(
    model_state: Mapping[str, Any], ckpt_state: Mapping[str, Any]
) -> tuple[list[str], list[str], list[tuple[str, tuple, tuple]]]:
    """(missing, unexpected, mismatched) keys of ``ckpt_state`` against ``model_state``;
    mismatched entries are ``(key, checkpoint shape, model shape)``."""
    missing = [k for k in model_state if k not in ckpt_state]
    unexpected = [k for k in ckpt_state if k not in model_state]
    mismatched = []
    for key, value in ckpt_state.items():
        own = model_state.get(key)
        theirs, ours = getattr(value, "shape", None), getattr(own, "shape", None)
        if own is not None and theirs is not None and ours is not None and theirs != ours:
            mismatched.append((key, tuple(theirs), tuple(ours)))
    return missing, unexpected, mismatched


def mismatch_message(
    path: str | os.PathLike,
    model_name: str,
    model_state: Mapping[str, Any],
    ckpt_state: Mapping[str, Any],
    *,
    limit: int = 3,
) -> str | None:
    """One line saying how ``ckpt_state`` does not fit the model (None when it fits)."""
    missing, unexpected, mismatched = compare_state_dicts(model_state, ckpt_state)
    if not (missing or unexpected or mismatched):
        return None
    parts = []
    if mismatched:
        shown = [f"{k} (checkpoint {list(a)}, model {list(b)})" for k, a, b in mismatched]
        parts.append(f"{len(mismatched)} with another shape: {_first(shown, limit)}")
    if missing:
        parts.append(f"{len(missing)} missing: {_first(missing, limit)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: {_first(unexpected, limit)}")
    return (
        f"checkpoint {path} does not fit the {model_name} built from this config: "
        + "; ".join(parts)
        + " (a checkpoint of another model or class count? load_from loads what fits)"
    )


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """A checkpoint path given by a user: a folder means its ``latest.pth``."""
    path = Path(os.fspath(path))
    if path.is_dir():
        latest = path / LATEST
        if latest.is_file():
            return latest
        found = sorted(p.name for p in path.glob("*.pth"))[:3]
        hint = f" (it has {', '.join(found)}: name one)" if found else " and no .pth files"
        raise CheckpointError(f"checkpoint {path} is a folder without {LATEST}{hint}")
    return path
