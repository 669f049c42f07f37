"""Pieces shared by the backbones: norm layers, stage freezing, loading a local checkpoint."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from detplug_core.errors import BuildError, CheckpointError

NORMS = ("FrozenBN", "BN")


def norm_layer(norm: str, eps: float | None = None) -> Callable[..., nn.Module]:
    """The norm-layer factory for ``norm``: ``FrozenBN`` (fixed statistics and affine, the
    detection default) or ``BN`` (trainable ``nn.BatchNorm2d``)."""
    if norm == "FrozenBN":
        return FrozenBatchNorm2d if eps is None else partial(FrozenBatchNorm2d, eps=eps)
    if norm == "BN":
        return nn.BatchNorm2d if eps is None else partial(nn.BatchNorm2d, eps=eps)
    raise BuildError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")


def freeze(module: nn.Module) -> None:
    """Stop gradients for every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad_(False)


def set_norm_eval(module: nn.Module) -> None:
    """Put every BatchNorm of ``module`` in eval mode (statistics no longer update)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a local checkpoint file (``weights_only``: no code runs), by the core's
    one reader: a bare state dict or one under ``model`` or ``state_dict``."""
    from detplug_core.runner.checkpoint import read_state_dict as read

    return read(path)


def init_from_checkpoint(module: nn.Module, init: Mapping[str, Any] | None, what: str) -> None:
    """Initialise ``module`` from ``init = {checkpoint: path, prefix: ""}``.

    Keys of the file that start with ``prefix`` are loaded with the prefix removed (e.g.
    ``prefix: backbone.body.`` for a torchvision detection checkpoint, ``""`` for a
    torchvision ImageNet classification checkpoint). Every parameter and buffer of
    ``module`` must be found; keys the module does not have (``fc.*``) are ignored.
    """
    if init is None:
        return
    unknown = set(init) - {"checkpoint", "prefix"}
    if unknown or "checkpoint" not in init:
        raise BuildError(
            f"{what}.init: expected {{checkpoint: PATH, prefix: STR}}, got keys {sorted(init)}"
        )
    prefix = init.get("prefix") or ""
    state = read_state_dict(init["checkpoint"])
    picked = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    result = module.load_state_dict(picked, strict=False)
    if result.missing_keys:
        shown = ", ".join(result.missing_keys[:5])
        more = len(result.missing_keys) - 5
        raise CheckpointError(
            f"{what}.init: {init['checkpoint']} (prefix {prefix!r}) lacks "
            f"{len(result.missing_keys)} of the backbone's keys: {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    extra = [k for k in result.unexpected_keys if not k.startswith("fc.")]
    if extra:
        warnings.warn(
            f"{what}.init: {len(extra)} keys of {init['checkpoint']} were not used, e.g. "
            f"{extra[0]}",
            stacklevel=2,
        )
