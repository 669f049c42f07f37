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

    Works on symbolic sizes too (``torch.sym_min``/``sym_max``/``sym_int``), so an
    exported graph computes the size from whatever image it gets.
    """

    def __init__(
        self,
        short: int | None = None,
        long: int | None = None,
        size: tuple[int, int] | None = None,
        antialias: bool = True,
    ) -> None:
        if (short is None) == (size is None):
            raise ValueError("EvalResize: give short (and long) or size")
        self.short, self.long, self.size, self.antialias = short, long, size, antialias

    def output_size(self, height: Any, width: Any) -> tuple[Any, Any]:
        """``(new_h, new_w)`` as ``ResizeShortLong`` (and torchvision) computes it: each side
        ``floor(side * scale)``."""
        if self.size is not None:
            return self.size
        scale = self.short / torch.sym_min(height, width)
        if self.long is not None:
            scale = torch.sym_min(scale, self.long / torch.sym_max(height, width))
        # sym_int truncates: floor for these positive sizes, and a .pt2 file can hold it.
        new_h = torch.sym_max(1, torch.sym_int(height * scale))
        new_w = torch.sym_max(1, torch.sym_int(width * scale))
        return new_h, new_w

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
    return EvalResize(short=short, long=t.get("max_size"), antialias=antialias)


def eval_transforms_cfg(cfg: Mapping) -> list | None:
    """The ``transforms`` list of the test (else val) dataset config, through wrappers."""
    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader") or {}
    node: Any = loader.get("dataset") if isinstance(loader, Mapping) else None
    while isinstance(node, Mapping):
        if "transforms" in node:
            return node["transforms"]
        node = node.get("dataset") or (node.get("datasets") or [None])[0]
    return None
