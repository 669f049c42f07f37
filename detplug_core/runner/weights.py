"""``load_from``: load model weights only, and report what did not fit."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from detplug_core.errors import CheckpointError
from detplug_core.runner.checkpoint import load_file


@dataclass
class LoadReport:
    """What :func:`load_weights` could not load."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def lines(self) -> list[str]:
        out = []
        if self.missing:
            out.append(f"missing keys (kept as initialised): {_short(self.missing)}")
        if self.unexpected:
            out.append(f"unexpected keys (ignored): {_short(self.unexpected)}")
        for key, theirs, ours in self.mismatched:
            out.append(f"shape mismatch (skipped): {key}: checkpoint {theirs}, model {ours}")
        return out


def _short(keys: list[str], limit: int = 8) -> str:
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def extract_state_dict(obj: object, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model weights inside a loaded file: a detplug checkpoint (``model``), a
    ``state_dict`` entry, or a bare state dict. A ``module.`` prefix (DDP) is removed."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: no model weights found (expected a state dict)")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return dict(obj)


def load_weights(
    model: torch.nn.Module, path: str | os.PathLike, loaded: object = None
) -> LoadReport:
    """Load the weights of ``path`` (or of ``loaded``, its contents when already read) into
    ``model`` where names and shapes match."""
    weights = extract_state_dict(load_file(path) if loaded is None else loaded, path)
    own = model.state_dict()
    report = LoadReport()
    usable = {}
    for key, value in weights.items():
        if key not in own:
            report.unexpected.append(key)
        elif own[key].shape != value.shape:
            report.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            usable[key] = value
    report.missing = [k for k in own if k not in weights]
    model.load_state_dict(usable, strict=False)
    return report
