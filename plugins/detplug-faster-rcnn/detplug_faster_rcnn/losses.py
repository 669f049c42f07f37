"""The losses of the two stages, on what their assigners sampled (torchvision's)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from detplug_faster_rcnn.registries import MODELS
from detplug_faster_rcnn.sampler import RPNSamples


@MODELS.register()
class RPNLoss:
    """Binary cross-entropy objectness over the sampled anchors (their mean) and smooth-L1
    on the positives' deltas divided by the number sampled: ``loss_rpn_cls``,
    ``loss_rpn_bbox``."""

    def __init__(self, smooth_l1_beta: float = 1.0 / 9) -> None:
        self.smooth_l1_beta = smooth_l1_beta

    def __call__(self, objectness: Tensor, deltas: Tensor, s: RPNSamples) -> dict[str, Tensor]:
        """objectness [N, sum HWA], deltas [N, sum HWA, 4] (the RPN head's raw outputs)."""
        box_loss = F.smooth_l1_loss(
            deltas[s.pos_img, s.pos_anchor],
            s.box_targets,
            beta=self.smooth_l1_beta,
            reduction="sum",
        )
        cls_loss = F.binary_cross_entropy_with_logits(objectness[s.img, s.anchor], s.objectness)
        return {"loss_rpn_cls": cls_loss, "loss_rpn_bbox": box_loss / max(1, s.img.numel())}


@MODELS.register()
class RoILoss:
    """Cross-entropy over all sampled RoIs (``loss_cls``); smooth-L1 on the GT class's
    deltas of the positives, divided by the number of sampled RoIs (``loss_bbox``)."""

    def __init__(self, smooth_l1_beta: float = 1.0 / 9) -> None:
        self.smooth_l1_beta = smooth_l1_beta

    def __call__(
        self, logits: Tensor, deltas: Tensor, labels: Tensor, box_targets: Tensor
    ) -> dict[str, Tensor]:
        """logits [R, C + 1], deltas [R, (C + 1) * 4], labels [R] (0 = background), box
        targets [R, 4]."""
        loss_cls = F.cross_entropy(logits, labels)
        pos = torch.where(labels > 0)[0]
        deltas = deltas.reshape(deltas.shape[0], -1, 4)[pos, labels[pos]]  # [P, 4]
        loss_bbox = F.smooth_l1_loss(
            deltas, box_targets[pos], beta=self.smooth_l1_beta, reduction="sum"
        )
        return {"loss_cls": loss_cls, "loss_bbox": loss_bbox / max(1, labels.numel())}
