"""One optimisation step: device transfer, autocast, loss sum, backward, clipping, step.

Order inside a step: forward (under autocast) -> loss sum -> ``backward`` (of the scaled loss
with fp16) -> unscaling (fp16, when gradients are clipped or read) -> the ``after_backward``
stage (gradients exist and are in true units) -> clipping -> ``optimizer.step`` ->
``zero_grad``. The lr was set before the step (LRSchedulerHook in ``before_train_iter``).

``amp: bf16`` runs the forward pass under ``torch.autocast`` in bfloat16 (no loss scaling
needed); ``amp: fp16`` uses float16 with a ``torch.amp.GradScaler``. ``clip_grad:
{max_norm, norm_type}`` clips the global gradient norm (after unscaling) and the norm is
logged as ``grad_norm``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import torch

from detplug_core.errors import ConfigError
from detplug_core.runner.settings import config_number

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def make_autocast(amp: str | None, device: torch.device) -> Callable[[], Any]:
    """A factory of the autocast context for ``amp`` (a null context when off)."""
    if amp in (None, False, "none", "fp32"):
        null = contextlib.nullcontext()
        return lambda: null
    if amp not in AMP_DTYPES:
        raise ConfigError(f"amp: expected bf16, fp16 or null, got {amp!r}")
    dtype = AMP_DTYPES[amp]
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def to_device(batch: Any, device: torch.device) -> tuple[list, list]:
    """Move images and every tensor of the targets to ``device`` (nothing to do on CPU)."""
    images, targets = batch
    if device.type == "cpu":
        return images, targets
    images = [img.to(device, non_blocking=True) for img in images]
    targets = [
        {
            k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in t.items()
        }
        for t in targets
    ]
    return images, targets


class TrainStep:
    """Callable doing one training iteration on a batch; returns the detached losses."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        amp: str | None = None,
        clip_grad: Mapping | None = None,
        on_gradients: Callable[..., None] | None = None,
    ) -> None:
        self.model = model  # possibly DDP-wrapped
        self.optimizer = optimizer
        self.device = device
        self.autocast = make_autocast(amp, device)
        self.scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
        self.clip = self._check_clip(clip_grad)
        self.params = [p for g in optimizer.param_groups for p in g["params"]]
        self.grad_norm: torch.Tensor | None = None
        self.on_gradients = on_gradients  # the after_backward stage, when implemented
        self._checked = False

    @staticmethod
    def _check_clip(clip_grad: Mapping | None) -> dict | None:
        if not clip_grad:
            return None
        if not isinstance(clip_grad, Mapping) or "max_norm" not in clip_grad:
            raise ConfigError(
                f"clip_grad: expected {{max_norm: N, norm_type: 2}}, got {clip_grad!r}"
            )
        bad = set(clip_grad) - {"max_norm", "norm_type"}
        if bad:
            raise ConfigError(
                f"clip_grad.{sorted(bad)[0]}: unknown option; known: max_norm, norm_type"
            )
        return {
            "max_norm": config_number(clip_grad["max_norm"], "clip_grad.max_norm"),
            "norm_type": config_number(clip_grad.get("norm_type", 2.0), "clip_grad.norm_type"),
        }

    def _check_losses(self, losses: Any) -> None:
        name = type(getattr(self.model, "module", self.model)).__name__
        if not isinstance(losses, Mapping) or not losses:
            raise ConfigError(
                f"model: {name} returned {type(losses).__name__} in training mode; "
                "expected a non-empty dict of scalar loss tensors"
            )
        if "loss" in losses:
            raise ConfigError(
                f"model: {name} returned a loss named 'loss'; that name is the runner's total, "
                "name the parts (loss_cls, loss_bbox, ...)"
            )
        for key, value in losses.items():
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise ConfigError(f"model: {name} loss '{key}' is not a scalar tensor")
        self._checked = True

    def __call__(self, batch: Any, batch_idx: int = 0) -> dict[str, torch.Tensor]:
        images, targets = to_device(batch, self.device)
        with self.autocast():
            losses = self.model(images, targets)
        if not self._checked:
            self._check_losses(losses)
        values = list(losses.values())
        loss = values[0]
        for value in values[1:]:
            loss = loss + value
        outputs = {key: value.detach() for key, value in losses.items()}
        outputs["loss"] = loss.detach()
        scaler, on_gradients = self.scaler, self.on_gradients
        if scaler is not None:
            scaler.scale(loss).backward()
            if self.clip is not None or on_gradients is not None:
                scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if on_gradients is not None:
            on_gradients(batch_idx=batch_idx, data_batch=batch, outputs=outputs)
        if self.clip is not None:
            self.grad_norm = torch.nn.utils.clip_grad_norm_(self.params, **self.clip)
        if scaler is not None:
            scaler.step(self.optimizer)
            scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return outputs
