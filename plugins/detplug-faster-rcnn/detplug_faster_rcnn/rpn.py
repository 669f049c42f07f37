"""The region proposal stage: the RPN head's raw outputs, anchors, the proposals and the
RPN's losses (docs/architecture.md, "Two stages")."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder

from detplug_faster_rcnn.parts import build_stage_part
from detplug_faster_rcnn.registries import MODELS

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

    Parts (docs/models.md, "Faster R-CNN"): ``assigner`` (default RPNAssigner), ``loss``
    (RPNLoss) and ``proposals`` (RPNProposals) are optional configs; ``type`` may be left
    out for the default, and a ``type`` swaps the part. The flat keys below are shorthands
    for the arguments of the same name of those parts (None: the part's default); setting
    one and the part's own key is a BuildError.

    Training (``assigner``: ``fg_iou_thresh``, ``bg_iou_thresh``, ``batch_size_per_image``,
    ``positive_fraction``; ``loss``: ``smooth_l1_beta``): anchors with IoU >=
    ``fg_iou_thresh`` to a GT (and each GT's best anchors) are positives, <
    ``bg_iou_thresh`` negatives; ``batch_size_per_image`` of them are sampled
    (``positive_fraction`` positives at most) for a binary cross-entropy objectness loss
    and a smooth-L1 box loss, both divided by the number sampled.
    Proposals (``proposals``: ``pre_nms_top_n_train``/``_test``,
    ``post_nms_top_n_train``/``_test``, ``nms_thresh``, ``score_thresh``, ``min_size``):
    per level the ``pre_nms_top_n`` best anchors, decoded, clipped, small and low-score
    boxes removed, NMS per level, the ``post_nms_top_n`` best kept.
    """

    def __init__(
        self,
        in_channels: int = 256,
        head: dict | None = None,
        anchor_generator: dict | None = None,
        assigner: dict | None = None,
        loss: dict | None = None,
        proposals: dict | None = None,
        fg_iou_thresh: float | None = None,
        bg_iou_thresh: float | None = None,
        batch_size_per_image: int | None = None,
        positive_fraction: float | None = None,
        pre_nms_top_n_train: int | None = None,
        pre_nms_top_n_test: int | None = None,
        post_nms_top_n_train: int | None = None,
        post_nms_top_n_test: int | None = None,
        nms_thresh: float | None = None,
        score_thresh: float | None = None,
        min_size: float | None = None,
        smooth_l1_beta: float | None = None,
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
        self.assigner = build_stage_part(
            "RPN",
            assigner,
            "assigner",
            "RPNAssigner",
            {
                "fg_iou_thresh": fg_iou_thresh,
                "bg_iou_thresh": bg_iou_thresh,
                "batch_size_per_image": batch_size_per_image,
                "positive_fraction": positive_fraction,
            },
            box_coder=self.box_coder,
        )
        self.loss = build_stage_part(
            "RPN", loss, "loss", "RPNLoss", {"smooth_l1_beta": smooth_l1_beta}
        )
        self.proposals = build_stage_part(
            "RPN",
            proposals,
            "proposals",
            "RPNProposals",
            {
                "pre_nms_top_n_train": pre_nms_top_n_train,
                "pre_nms_top_n_test": pre_nms_top_n_test,
                "post_nms_top_n_train": post_nms_top_n_train,
                "post_nms_top_n_test": post_nms_top_n_test,
                "nms_thresh": nms_thresh,
                "score_thresh": score_thresh,
                "min_size": min_size,
            },
            box_coder=self.box_coder,
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
