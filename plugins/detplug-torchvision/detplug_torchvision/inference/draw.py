"""Draw predicted (and optionally ground-truth) boxes with class names and scores, and
predicted masks as a see-through fill in the class colour."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.io import write_png
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
]  # fmt: skip
MASK_ALPHA = 0.45  # how much of the class colour a mask's pixels take


def draw_detections(
    image: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    class_names: list[str] | None = None,
    scores: torch.Tensor | None = None,
    gt_boxes: torch.Tensor | None = None,
    masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """uint8 [3,H,W] with predictions in class colours and ground truth in white; ``masks``
    (bool [K, H, W], one per prediction) filled in their box's colour, see-through."""
    if image.dtype != torch.uint8:
        image = (image.clamp(0, 1) * 255).to(torch.uint8)
    image = image[:3].cpu()
    if masks is not None and len(masks):
        colors = [PALETTE[label % len(PALETTE)] for label in labels.tolist()]
        image = draw_segmentation_masks(image, masks.cpu(), alpha=MASK_ALPHA, colors=colors)
    width = max(1, round(max(image.shape[-2:]) / 300))
    if gt_boxes is not None and len(gt_boxes):
        image = draw_bounding_boxes(image, gt_boxes.cpu().float(), colors="white", width=width)
    if len(boxes):
        names = []
        for i, label in enumerate(labels.tolist()):
            name = class_names[label] if class_names and label < len(class_names) else str(label)
            names.append(f"{name} {scores[i]:.2f}" if scores is not None else name)
        colors = [PALETTE[label % len(PALETTE)] for label in labels.tolist()]
        image = draw_bounding_boxes(
            image, boxes.cpu().float(), labels=names, colors=colors, width=width
        )
    return image


def save_png(image: torch.Tensor, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_png(image.contiguous(), str(path))
