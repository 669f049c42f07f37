"""Helpers of the predict/export tests: small detectors with random weights that give
spread-out scores, training-style checkpoints, and real photos (BCCD) cut to several sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from torch import nn

from detplug_core import MODELS
from detplug_core.config import load_config
from detplug_core.data.num_classes import resolve_num_classes

REPO = Path(__file__).resolve().parents[3]
BCCD = REPO.parent / "shared" / "data" / "BCCD" / "JPEGImages"
CONFIGS = {
    "fcos": "fcos::fcos_r18_fpn_shapes.yaml",
    "retinanet": "retinanet::retinanet_r18_fpn_shapes.yaml",
    "faster_rcnn": "faster_rcnn::faster_rcnn_r18_fpn_shapes.yaml",
    "rtmdet": "rtmdet::rtmdet_tiny_shapes.yaml",
}
CLASSES = ["rectangle", "ellipse", "triangle"]
# The classifier layers whose weights are scaled down, so scores spread over (0, 1).
CLASSIFIERS = ("cls_logits", "cls_score", "cls_preds")


def config(name: str) -> dict:
    """The packaged shapes recipe, its ``num_classes: auto`` resolved for :data:`CLASSES`."""
    cfg = load_config(CONFIGS[name], [f"+data.classes=[{','.join(CLASSES)}]"]).to_dict()
    resolve_num_classes(cfg)
    return cfg


@torch.no_grad()
def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights of unit gain and random norm statistics; small classifier weights
    with a negative bias give scores spread over (0, 1) with few ties."""
    g = torch.Generator().manual_seed(seed)
    for name, t in model.state_dict().items():
        if not t.is_floating_point():
            continue
        randn = torch.randn(t.shape, generator=g)
        if any(c in name for c in CLASSIFIERS):
            t.copy_(
                randn * (0.02 if name.endswith("weight") else 0.3) - 1.0 * name.endswith("bias")
            )
        elif t.dim() >= 2:
            t.copy_(randn * (1.0 / t[0].numel()) ** 0.5)
        elif name.endswith("running_var") or (name.endswith("weight") and t.dim() == 1):
            t.copy_(0.5 + torch.rand(t.shape, generator=g))
        else:
            t.copy_(0.1 * randn)
    return model.eval()


def build(name: str, seed: int = 0) -> tuple[nn.Module, dict]:
    cfg = config(name)
    return randomise(MODELS.build(cfg["model"]), seed), cfg


def save_checkpoint(path: Path, model: nn.Module, cfg: dict) -> Path:
    """What ``detplug train`` saves, as far as prediction reads it."""
    torch.save({"config": cfg, "model": model.state_dict(), "meta": {"classes": CLASSES}}, path)
    return path


def to_tensor(image: PIL.Image.Image) -> torch.Tensor:
    """uint8 ``[3, H, W]`` of an RGB PIL image."""
    return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


def bccd_photos(count: int) -> list[PIL.Image.Image]:
    """The first ``count`` BCCD photos (640 x 480 RGB JPEGs) as PIL images."""
    files = sorted(BCCD.glob("*.jpg"))[:count]
    if len(files) < count:
        pytest.skip(f"BCCD images not found under {BCCD}")
    return [PIL.Image.open(f).convert("RGB") for f in files]


def float32_rounding_sizes(short: int, long: int, count: int) -> list[tuple[int, int]]:
    """Photo sizes ``(h, w)`` up to 480 x 640 whose ``ResizeShortLong(short, long)`` size
    differs when computed in float32 (what an ONNX graph did with Python float arithmetic
    on symbolic sizes) from float64 (eager, torchvision): half of them portrait."""

    def size(h: int, w: int, dtype: type) -> tuple[int, int]:
        scale = min(dtype(short) / dtype(min(h, w)), dtype(long) / dtype(max(h, w)))
        return int(dtype(h) * scale), int(dtype(w) * scale)

    found: list[tuple[int, int]] = []
    for portrait in (False, True):
        for h in range(150, 480, 7):
            for w in range(150, 640, 11):
                if (h > w) == portrait and size(h, w, np.float32) != size(h, w, np.float64):
                    found.append((h, w))
                    break
            if len(found) >= (count + 1) // 2 * (1 + portrait):
                break
    return found[:count]


def bccd_images() -> list[torch.Tensor]:
    """Three real photos of different sizes and aspects: a landscape crop, a portrait crop
    and a downscaled whole photo (BCCD photos are all 640x480)."""
    files = sorted(BCCD.glob("*.jpg"))
    if not files:
        pytest.skip(f"BCCD images not found under {BCCD}")
    a = PIL.Image.open(files[0]).convert("RGB")
    b = PIL.Image.open(files[1]).convert("RGB")
    c = PIL.Image.open(files[2]).convert("RGB")
    images = [
        a.crop((37, 21, 37 + 301, 21 + 187)),  # 187 x 301
        b.crop((300, 40, 300 + 149, 40 + 263)),  # 263 x 149
        c.resize((213, 160), PIL.Image.BILINEAR),  # 160 x 213
    ]
    return [to_tensor(im) for im in images]
