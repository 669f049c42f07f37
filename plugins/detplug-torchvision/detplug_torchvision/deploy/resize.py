"""The test-time resize of a config, as an in-model step that an exported graph can hold.

A checkpoint's eval pipeline (``test_dataloader``, else ``val_dataloader``) is read once:
``ResizeShortLong`` and torchvision's ``Resize`` become a :class:`EvalResize`; conversions
(``ToFloatImage``, ``ToDtype``, ``ToImage``, ...) and box-only steps (``SanitizeBoxes``,
``DropIgnored``, ...) need nothing at prediction time. Any other transform cannot run inside
an exported model and is an error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from detplug_core.errors import ConfigError

# Nothing to do on an image at prediction time.
PASSTHROUGH = {
    "ToFloatImage", "ToDtype", "ToImage", "ToPureTensor", "ConvertImageDtype", "SanitizeBoxes",
    "DropIgnored", "ClampBoundingBoxes", "SanitizeBoundingBoxes", "ConvertBoundingBoxFormat",
}  # fmt: skip


class EvalResize:
    """Keep the aspect ratio: short side to ``short``, long side at most ``long``; or, with
    ``size=(h, w)``, a fixed size. Bilinear on float images (``antialias`` as configured).

    ``rule`` says how the size is computed, as the eval pipeline computes it:
    ``"short_long"`` as ``ResizeShortLong`` (and torchvision's detection models): each side
    ``floor(side * scale)``; ``"torchvision"`` as torchvision's ``Resize(size, max_size)``:
    the short side exactly ``short``, the long one truncated, then capped at ``long``.

    The arithmetic is float64 tensor arithmetic, the same in eager mode and in an exported
    graph, and the same as Python's floats (IEEE division, tensor by tensor): the dynamo
    ONNX exporter would turn Python float arithmetic on symbolic sizes into float32 ops,
    which round some sizes differently (533x400 with 256/341: 340 wide in float64, 341 in
    float32). The size then leaves the tensor with ``.item()`` (a plain int
    in eager mode, a size the graph computes when exporting).
    """

    RULES = ("short_long", "torchvision")

    def __init__(
        self,
        short: int | None = None,
        long: int | None = None,
        size: tuple[int, int] | None = None,
        antialias: bool = True,
        rule: str = "short_long",
    ) -> None:
        if (short is None) == (size is None):
            raise ValueError("EvalResize: give short (and long) or size")
        if rule not in self.RULES:
            raise ValueError(f"EvalResize: rule must be one of {self.RULES}, got {rule!r}")
        self.short, self.long, self.size, self.antialias = short, long, size, antialias
        self.rule = rule

    def output_size(self, height: Any, width: Any) -> tuple[Any, Any]:
        """``(new_h, new_w)`` of an image of ``height`` x ``width`` (ints or symbolic)."""
        if self.size is not None:
            return self.size
        hw = torch.stack([torch.scalar_tensor(s, dtype=torch.float64) for s in (height, width)])
        if self.rule == "short_long":
            new = self._short_long(hw)
        else:
            new = self._torchvision(hw)
        new = new.clamp(min=1)
        new_h, new_w = new[0].item(), new[1].item()
        torch._check(new_h >= 1)
        torch._check(new_w >= 1)
        return new_h, new_w

    def _short_long(self, hw: Tensor) -> Tensor:
        scale = _const(hw[0], self.short) / hw.min()
        if self.long is not None:
            scale = torch.minimum(scale, _const(hw[0], self.long) / hw.max())
        return torch.floor(hw * scale).to(torch.int64)

    def _torchvision(self, hw: Tensor) -> Tensor:
        """torchvision's ``_compute_resized_output_size`` for ``size=[short]``."""
        short_side, long_side = hw.min(), hw.max()
        new_short = _const(short_side, self.short)
        new_long = torch.trunc(new_short * long_side / short_side)
        if self.long is not None:
            cap = _const(new_long, self.long)
            capped = new_long > cap
            new_short = torch.where(capped, torch.trunc(cap * new_short / new_long), new_short)
            new_long = torch.where(capped, cap, new_long)
        portrait = hw[1] <= hw[0]  # torchvision: the width is the short side when w <= h
        new_h = torch.where(portrait, new_long, new_short)
        new_w = torch.where(portrait, new_short, new_long)
        return torch.stack((new_h, new_w)).to(torch.int64)

    def __call__(self, image: Tensor) -> Tensor:
        """float ``[3, H, W]`` -> float ``[3, h, w]``."""
        size = self.output_size(image.shape[-2], image.shape[-1])
        out = F.interpolate(
            image[None], size=size, mode="bilinear", align_corners=False, antialias=self.antialias
        )
        return out[0]

    def describe(self) -> str:
        if self.size is not None:
            return f"resize to {self.size[0]}x{self.size[1]}"
        cap = f", long side at most {self.long}" if self.long else ""
        return f"resize keeping the aspect ratio: short side {self.short}{cap}"


def _const(like: Tensor, value: float) -> Tensor:
    """``value`` as a tensor like ``like``: ``value / tensor`` would run as
    ``value * (1 / tensor)``, two roundings where Python's float division has one."""
    return torch.full_like(like, float(value))


def eval_resize_from_config(cfg: Mapping) -> EvalResize | None:
    """The :class:`EvalResize` of a resolved config's eval transforms (``None``: no resize)."""
    transforms = eval_transforms_cfg(cfg) or []
    resize: EvalResize | None = None
    for i, t in enumerate(transforms):
        kind = str(t.get("type", "")).rsplit(".", 1)[-1] if isinstance(t, Mapping) else ""
        if kind in PASSTHROUGH:
            continue
        if kind in ("ResizeShortLong", "Resize") and resize is None:
            resize = _resize_of(kind, t, i)
            continue
        raise ConfigError(
            f"eval transform {i} ({t.get('type') if isinstance(t, Mapping) else t!r}) cannot "
            f"run inside the prediction model; supported: ResizeShortLong, Resize and "
            f"conversions ({', '.join(sorted(PASSTHROUGH))})"
        )
    return resize


def _resize_of(kind: str, t: Mapping, index: int) -> EvalResize:
    antialias = bool(t.get("antialias", True))
    interpolation = str(t.get("interpolation", "bilinear")).lower().rsplit(".", 1)[-1]
    if interpolation != "bilinear":
        raise ConfigError(f"eval transform {index} ({kind}): only bilinear resizing is supported")
    if kind == "ResizeShortLong":
        short = t.get("short", 800)
        if isinstance(short, Sequence):
            if len(short) != 1:
                raise ConfigError(
                    f"eval transform {index} (ResizeShortLong): several short sides {short} "
                    "(multi-scale) at test time; give one"
                )
            short = short[0]
        return EvalResize(short=int(short), long=t.get("long", 1333), antialias=antialias)
    size = t.get("size")
    if isinstance(size, Sequence) and len(size) == 2:
        return EvalResize(size=(int(size[0]), int(size[1])), antialias=antialias)
    short = size[0] if isinstance(size, Sequence) else size
    if not isinstance(short, int):
        raise ConfigError(f"eval transform {index} (Resize): unsupported size {size!r}")
    return EvalResize(short=short, long=t.get("max_size"), antialias=antialias, rule="torchvision")


def eval_transforms_cfg(cfg: Mapping) -> list | None:
    """The ``transforms`` list of the test (else val) dataset config, through wrappers."""
    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader") or {}
    node: Any = loader.get("dataset") if isinstance(loader, Mapping) else None
    while isinstance(node, Mapping):
        if "transforms" in node:
            return node["transforms"]
        node = node.get("dataset") or (node.get("datasets") or [None])[0]
    return None
