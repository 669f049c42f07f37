"""From mask logits of the detected boxes to masks in image pixels."""

from __future__ import annotations

import torch
from detplug_torchvision.masks import paste_masks
from torch import Tensor

from detplug_mask_rcnn.registries import MODELS


@MODELS.register()
class MaskPostprocess:
    """Each detection keeps the mask of its own class (He et al.: the k-th mask of the
    predicted class k), as a sigmoid probability, pasted into its image at its box
    (:func:`~detplug_torchvision.masks.paste_masks`). Adds ``masks`` [D, 1, H, W] float in
    0..1 to each image's detections, as torchvision's Mask R-CNN returns them; threshold
    them (0.5 is usual) for a binary mask.

    ``paste: false`` leaves each mask on its box's ``M x M`` grid, as ``box_masks``
    [D, 1, M, M] (the mask branch's own resolution) instead of ``masks``: far less memory
    on large images. The evaluator, the metrics and ``Detector`` paste them at the image's
    original size after rescaling the boxes (``detplug_torchvision.masks``), which is also
    what torchvision does.
    """

    def __init__(self, paste: bool = True) -> None:
        self.paste = bool(paste)

    def __call__(
        self,
        mask_logits: Tensor,
        detections: list[dict[str, Tensor]],
        image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        """``mask_logits`` [D, C + 1, M, M] for the detections of all images in order
        (labels 0..C-1, so a detection's map is at its label + 1)."""
        counts = [d["boxes"].shape[0] for d in detections]  # sizes, not ints: exportable
        out = []
        for logits, det, size in zip(
            mask_logits.split(counts), detections, image_sizes, strict=True
        ):
            rows = torch.arange(logits.shape[0], device=logits.device)
            probs = logits[rows, det["labels"] + 1].sigmoid()[:, None]  # [D_i, 1, M, M]
            if self.paste:
                out.append({**det, "masks": paste_masks(probs.float(), det["boxes"], size)})
            else:
                out.append({**det, "box_masks": probs})
        return out
