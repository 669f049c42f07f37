"""The region proposal stage: the RPN head's raw outputs, anchors, the proposals and the
RPN's losses (docs/architecture.md, "Two stages")."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder

from detplug_faster_rcnn.losses import RPNLoss
from detplug_faster_rcnn.proposals import RPNProposals
from detplug_faster_rcnn.registries import MODELS
from detplug_faster_rcnn.sampler import RPNAssigner

DEFAULT_ANCHORS = {
    "type": "AnchorGenerator",
    "sizes": [[32], [64], [128], [256], [512]],
    "aspect_ratios": [0.5, 1.0, 2.0],
}


@MODELS.register()
class RPN(nn.Module):
    """torchvision's RegionProposalNetwork as a stage: it owns, for the first stage, what a
    one-stage detector owns (anchors, assigner, loss, post-processing) and a registry head
    (``RPNHead``) that returns raw outputs.

    Training (``assigner``, an RPNAssigner; ``loss``, an RPNLoss): anchors with IoU >=
    ``fg_iou_thresh`` to a GT (and each GT's best anchors) are positives, <
    ``bg_iou_thresh`` negatives; ``batch_size_per_image`` of them are sampled
    (``positive_fraction`` positives at most) for a binary cross-entropy objectness loss
    and a smooth-L1 box loss, both divided by the number sampled.
    Proposals (``proposals``, an RPNProposals): per level the ``pre_nms_top_n`` best
    anchors, decoded, clipped, small and low-score boxes removed, NMS per level, the
    ``post_nms_top_n`` best kept.
    """

    def __init__(
        self,
        in_channels: int = 256,
        head: dict | None = None,
        anchor_generator: dict | None = None,
        fg_iou_thresh: float = 0.7,
        bg_iou_thresh: float = 0.3,
        batch_size_per_image: int = 256,
        positive_fraction: float = 0.5,
        pre_nms_top_n_train: int = 2000,
        pre_nms_top_n_test: int = 1000,
        post_nms_top_n_train: int = 2000,
        post_nms_top_n_test: int = 1000,
        nms_thresh: float = 0.7,
        score_thresh: float = 0.0,
        min_size: float = 1e-3,
        smooth_l1_beta: float = 1.0 / 9,
    ) -> None:
        super().__init__()
        self.anchor_generator = MODELS.build(anchor_generator or DEFAULT_ANCHORS)
        num_anchors = self.anchor_generator.num_anchors_per_location
        if len(set(num_anchors)) != 1:
            raise ValueError(f"RPN needs the same number of anchors per level, got {num_anchors}")
        self.head = MODELS.build(
            head or {"type": "RPNHead"}, in_channels=in_channels, num_anchors=num_anchors[0]
        )
        self.num_anchors = num_anchors[0]
        self.box_coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.assigner = RPNAssigner(
            self.box_coder, fg_iou_thresh, bg_iou_thresh, batch_size_per_image, positive_fraction
        )
        self.loss = RPNLoss(smooth_l1_beta)
        self.proposals = RPNProposals(
            self.box_coder,
            pre_nms_top_n_train,
            pre_nms_top_n_test,
            post_nms_top_n_train,
            post_nms_top_n_test,
            nms_thresh,
            score_thresh,
            min_size,
        )

    def forward(
        self,
        features: list[Tensor],
        padded_size: tuple[int, int],
        image_sizes: list[tuple[int, int]],
        targets: list[dict[str, Any]] | None = None,
    ) -> tuple[list[Tensor], dict[str, Tensor]]:
        """Proposals per image [P_i, 4], and the losses when ``targets`` are given."""
        objectness, deltas = self.head(features)  # [N, sum HWA], [N, sum HWA, 4]
        sizes = [tuple(f.shape[-2:]) for f in features]
        anchors = self.anchor_generator(padded_size, sizes, deltas.dtype, deltas.device)
        per_level = [h * w * self.num_anchors for h, w in sizes]
        proposals = self.proposals(
            objectness, deltas, anchors, per_level, image_sizes, self.training
        )
        if targets is None:
            return proposals, {}
        return proposals, self.loss(objectness, deltas, self.assigner(anchors, targets))
