"""Helpers of the Mask R-CNN tests: real photos (BCCD) at chosen sizes, instance masks for
boxes, and mask IoU."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

# the read-only data folder beside the checkout (tests/e2e/test_bccd_formats.py's)
BCCD = Path(__file__).resolve().parents[4] / "shared" / "data" / "BCCD"


def photos(sizes: list[tuple[int, int]], grey: int | None = None) -> list[Tensor]:
    """BCCD photos ``[3, H, W]`` in 0..1, one per ``(H, W)`` in ``sizes``: photo i is cropped
    to that aspect ratio (centred) and resized; photo ``grey`` is made greyscale (three equal
    channels, as a loader gives a greyscale JPEG)."""
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    files = sorted((BCCD / "JPEGImages").glob("*.jpg"))[: len(sizes)]
    out = []
    for i, (path, (h, w)) in enumerate(zip(files, sizes, strict=True)):
        image = Image.open(path).convert("RGB")
        scale = min(image.width / w, image.height / h)
        cw, ch = round(w * scale), round(h * scale)
        left, top = (image.width - cw) // 2, (image.height - ch) // 2
        image = image.crop((left, top, left + cw, top + ch)).resize((w, h), Image.BILINEAR)
        if i == grey:
            image = image.convert("L").convert("RGB")
        out.append(pil_to_tensor(image).float() / 255)
    return out


def ellipse_masks(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """The ellipse inscribed in each box ``[G, 4]`` as a 0/1 uint8 mask ``[G, H, W]``."""
    h, w = size
    ys = torch.arange(h, dtype=torch.float32)[:, None] + 0.5
    xs = torch.arange(w, dtype=torch.float32)[None, :] + 0.5
    masks = []
    for x0, y0, x1, y1 in boxes.tolist():
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        masks.append(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1)
    if not masks:
        return torch.zeros(0, h, w, dtype=torch.uint8)
    return torch.stack(masks).to(torch.uint8)


def mask_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of two stacks of binary masks ``[N, ...]``, pair by pair; 1 where both are empty."""
    a, b = a.flatten(1).bool(), b.flatten(1).bool()
    inter = (a & b).sum(1).float()
    union = (a | b).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
