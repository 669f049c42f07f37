"""Box operations shared by the detectors, written so that an exported graph can hold them."""

from __future__ import annotations

import torch
import torchvision
from torch import Tensor

__all__ = ["batched_nms"]


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """``torchvision.ops.batched_nms``: indices of the kept boxes, best score first.

    While exporting, always the coordinate trick (boxes of each category shifted apart, one
    ``nms``): torchvision chooses between two strategies by the number of boxes, a
    data-dependent branch that ``torch.export`` cannot hold. Both give the same boxes.
    """
    if not torch.compiler.is_exporting():
        return torchvision.ops.batched_nms(boxes, scores, idxs, iou_threshold)
    # The largest coordinate, 0 for no boxes (no data-dependent emptiness test).
    top = torch.cat((boxes.reshape(-1), boxes.new_zeros(1))).max()
    offsets = idxs.to(boxes) * (top + 1)
    return torchvision.ops.nms(boxes + offsets[:, None], scores, iou_threshold)
