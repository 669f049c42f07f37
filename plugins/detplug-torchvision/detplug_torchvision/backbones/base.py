"""What every backbone is built from: norm layers, frozen stages, loading a local checkpoint.

Public: detplug's own backbones use it, and so do those of other plugins (RTMDet's CSPNeXt)
and a third-party backbone that wants the same ``norm``, ``frozen_stages``, ``norm_eval``
and ``init`` arguments.
"""

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


class FreezableBackbone(nn.Module):
    """A backbone whose first stages can be frozen and whose norms can stay in eval mode.

    A subclass sets ``norm_eval`` and returns its frozen modules from
    :meth:`frozen_modules`, then calls :meth:`freeze_stages` at the end of ``__init__``:
    their parameters stop training, and :meth:`train` keeps them (and, with ``norm_eval``,
    every BatchNorm) in eval mode.
    """

    norm_eval: bool = False

    def frozen_modules(self) -> list[nn.Module]:
        """The modules that do not train (the stem and the first ``frozen_stages`` stages)."""
        return []

    def freeze_stages(self) -> None:
        """Stop gradients of the frozen modules and put them in eval mode."""
        for module in self.frozen_modules():
            freeze(module)
            module.eval()

    def train(self, mode: bool = True) -> FreezableBackbone:
        """Train mode, except frozen modules (and all norms with ``norm_eval``) stay in eval."""
        super().train(mode)
        if mode:
            for module in self.frozen_modules():
                module.eval()
            if self.norm_eval:
                set_norm_eval(self)
        return self


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a local checkpoint file (``weights_only``: no code runs), by the core's
    one reader: a bare state dict or one under ``model`` or ``state_dict``."""
    from detplug_core.runner.checkpoint import read_state_dict as read

    return read(path)


def _missing_init_file(path: str, what: str) -> str:
    """The error for an ``init`` file that is not there, with where to get it when it is one
    of torchvision's published files."""
    from detplug_torchvision.pretrained import published_name

    text = f"{what}.init: checkpoint not found: {path}"
    found = published_name(path)
    if found is None:
        return text
    name, url = found
    return (
        f"{text}; it is torchvision's {name}: download {url} to {path}, or have torchvision "
        f"fetch it: on the backbone, init: null and weights: {name} (overrides "
        f"model.backbone.init=null model.backbone.weights={name})"
    )


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
    if not os.path.isfile(init["checkpoint"]):
        raise CheckpointError(_missing_init_file(str(init["checkpoint"]), what))
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
