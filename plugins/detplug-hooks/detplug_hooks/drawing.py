"""Draw ground-truth and predicted boxes, and their instance masks, on an image tensor (PIL,
no GUI backend); class names in any script (:mod:`detplug_hooks.fonts`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from detplug_hooks.fonts import runs

GT_COLOR = (0, 200, 0)
PRED_COLOR = (230, 40, 40)
MASK_ALPHA = 0.4  # how much of its colour a mask's pixels take (the image shows through)


def to_pil(image: Tensor) -> Image.Image:
    """A [3,H,W] (or [1,H,W]) tensor, float in 0..1 or uint8, as an RGB PIL image."""
    image = image.detach().cpu()
    if image.is_floating_point():
        image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    return Image.fromarray(image[:3].permute(1, 2, 0).contiguous().numpy(), "RGB")


def _name(label: int, classes: Sequence[str] | None) -> str:
    if classes is not None and 0 <= label < len(classes):
        return str(classes[label])
    return str(label)


LABEL_SIZE = 11  # px: the text of the box labels


@lru_cache(maxsize=16)
def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.truetype(path, size)
    try:  # a variable font (the Noto files) starts at its first instance, e.g. Thin
        if b"Regular" in font.get_variation_names():
            font.set_variation_by_name("Regular")
    except OSError:  # not a variable font
        pass
    return font


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, color) -> None:
    """``text`` at ``xy`` on a dark box, readable over any colour; each character in the
    first font that has it (:mod:`detplug_hooks.fonts`: CJK, emoji, any script)."""
    pieces = [(piece, _truetype(font.path, LABEL_SIZE)) for piece, font in runs(text)]
    x, y = xy
    width = sum(font.getlength(piece) for piece, font in pieces)
    draw.rectangle((x, y, x + width, y + LABEL_SIZE + 2), fill=(0, 0, 0))
    for piece, font in pieces:
        draw.text((x, y), piece, fill=color, font=font)
        x += font.getlength(piece)


def draw_detections(
    image: Tensor,
    gt_boxes: Tensor | None,
    gt_labels: Tensor | None,
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    *,
    classes: Sequence[str] | None = None,
    score_thr: float = 0.3,
    max_boxes: int = 50,
    min_side: int = 0,
    gt_masks: Tensor | None = None,
    masks: Tensor | None = None,
) -> Image.Image:
    """Ground truth in green, the ``max_boxes`` best predictions scoring at least
    ``score_thr`` in red with ``class score``; boxes are xyxy in the image's pixels.
    ``gt_masks`` (one per GT box) and ``masks`` (one per prediction), [K, H, W] binary in
    the image's pixels, are filled in the same colours, see-through.

    An image whose shorter side is below ``min_side`` is first enlarged by a whole factor
    (nearest neighbour, so pixels stay sharp) until it is not, so that the labels stay
    readable on small images."""
    pil = to_pil(image)
    keep = kept_predictions(scores, score_thr, max_boxes)
    fills = [(gt_masks, GT_COLOR), (masks[keep] if masks is not None else None, PRED_COLOR)]
    pil = _fill_masks(pil, [(m, c) for m, c in fills if m is not None and len(m)])
    factor = max(1, math.ceil(min_side / max(1, min(pil.size))))
    if factor > 1:
        pil = pil.resize((pil.width * factor, pil.height * factor), Image.Resampling.NEAREST)
        boxes = boxes * factor
        gt_boxes = gt_boxes * factor if gt_boxes is not None else None
    draw = ImageDraw.Draw(pil)
    if gt_boxes is not None:
        gt_labels = gt_labels if gt_labels is not None else torch.zeros(len(gt_boxes))
        for box, label in zip(gt_boxes.tolist(), gt_labels.tolist(), strict=True):
            draw.rectangle(box, outline=GT_COLOR, width=2)
            _label(draw, (box[0] + 2, box[3] - 12), _name(int(label), classes), GT_COLOR)
    for i in keep.tolist():
        box = boxes[i].tolist()
        draw.rectangle(box, outline=PRED_COLOR, width=2)
        text = f"{_name(int(labels[i]), classes)} {float(scores[i]):.2f}"
        _label(draw, (box[0] + 2, box[1] + 1), text, PRED_COLOR)
    return pil


def kept_predictions(scores: Tensor, score_thr: float, max_boxes: int) -> Tensor:
    """Indices of the ``max_boxes`` best predictions scoring at least ``score_thr``, best
    first: the ones :func:`draw_detections` draws."""
    keep = (scores >= score_thr).nonzero().flatten()
    return keep[scores[keep].argsort(descending=True)][:max_boxes]


def _fill_masks(pil: Image.Image, layers: list[tuple[Tensor, tuple[int, int, int]]]) -> Image.Image:
    """Each layer's masks ([K, H, W], nonzero = inside) blended into ``pil`` in its colour;
    where masks of a layer overlap, the colour is blended once per mask."""
    if not layers:
        return pil
    pixels = np.asarray(pil, dtype=np.float32).copy()
    for masks, color in layers:
        tint = np.asarray(color, dtype=np.float32) * MASK_ALPHA
        for mask in masks.detach().cpu().numpy().astype(bool):
            pixels[mask] = pixels[mask] * (1 - MASK_ALPHA) + tint
    return Image.fromarray(pixels.round().astype(np.uint8), "RGB")
