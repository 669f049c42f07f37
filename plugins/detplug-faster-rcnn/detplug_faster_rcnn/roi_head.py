"""The second stage: pool each proposal with RoIAlign, classify it and refine its box.

``RoIHead`` keeps its classic name (torchvision's ``RoIHeads``, MMDetection's
``StandardRoIHead``, the shipped configs) but is a stage, not a raw-output head
(docs/architecture.md, "Two stages"): its box branch (``box_head``, ``cls_score``,
``bbox_pred``) returns raw outputs, and sampling, loss and post-processing are the parts
``assigner`` (RoIAssigner), ``loss`` (RoILoss) and ``postprocess`` (RoIPostprocess).
Labels inside this module are 1-based with 0 the background class (torchvision's layout,
so its checkpoints load unchanged); the detector's labels 0..C-1 are shifted in and out.
Shapes: R proposals in the batch, C foreground classes.
"""

from __future__ import annotations

import torch
from detplug_torchvision.ops import multiscale_roi_align
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import MultiScaleRoIAlign

from detplug_faster_rcnn.parts import build_stage_part
from detplug_faster_rcnn.registries import MODELS


@MODELS.register()
class RoIHead(nn.Module):
    """Faster R-CNN's second stage over ``torchvision.ops.MultiScaleRoIAlign``.

    Raw outputs (``predict_rois``): pooled RoIs through ``box_head`` (TwoMLPHead), then
    ``cls_score`` and ``bbox_pred`` (parameter names as before, so checkpoints load).
    Parts (docs/models.md, "Faster R-CNN"): ``assigner`` (default RoIAssigner), ``loss``
    (RoILoss) and ``postprocess`` (RoIPostprocess) are optional configs; ``type`` may be
    left out for the default, and a ``type`` swaps the part. The flat keys below are
    shorthands for the arguments of the same name of those parts (None: the part's
    default); setting one and the part's own key is a BuildError. ``bbox_reg_weights`` is
    the stage's box coder, which it hands to ``assigner`` and ``postprocess``.

    Training (``assigner``: ``fg_iou_thresh``, ``bg_iou_thresh``, ``batch_size_per_image``,
    ``positive_fraction``; ``loss``: ``smooth_l1_beta``): the GT boxes join the proposals;
    proposals with IoU >= ``fg_iou_thresh`` take their GT's class, < ``bg_iou_thresh`` are
    background; ``batch_size_per_image`` are sampled (``positive_fraction`` positives at
    most) for a cross-entropy class loss and a class-specific smooth-L1 box loss divided by
    the number sampled.
    Inference (``postprocess``: ``score_thresh``, ``nms_thresh``, ``detections_per_img``):
    softmax scores per class, boxes decoded per class, clipped; scores > ``score_thresh``,
    class-wise NMS at ``nms_thresh``, ``detections_per_img`` best.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 256,
        num_levels: int = 4,
        roi_size: int = 7,
        sampling_ratio: int = 2,
        box_head: dict | None = None,
        assigner: dict | None = None,
        loss: dict | None = None,
        postprocess: dict | None = None,
        fg_iou_thresh: float | None = None,
        bg_iou_thresh: float | None = None,
        batch_size_per_image: int | None = None,
        positive_fraction: float | None = None,
        bbox_reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0),
        score_thresh: float | None = None,
        nms_thresh: float | None = None,
        detections_per_img: int | None = None,
        smooth_l1_beta: float | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.level_names = [str(i) for i in range(num_levels)]
        self.roi_align = MultiScaleRoIAlign(self.level_names, roi_size, sampling_ratio)
        self.box_head = MODELS.build(
            box_head or {"type": "TwoMLPHead"}, in_channels=in_channels, roi_size=roi_size
        )
        width = self.box_head.out_channels
        self.cls_score = nn.Linear(width, num_classes + 1)  # index 0: background
        self.bbox_pred = nn.Linear(width, (num_classes + 1) * 4)
        self.box_coder = BoxCoder(tuple(bbox_reg_weights))
        self.assigner = build_stage_part(
            "RoIHead",
            assigner,
            "assigner",
            "RoIAssigner",
            {
                "fg_iou_thresh": fg_iou_thresh,
                "bg_iou_thresh": bg_iou_thresh,
                "batch_size_per_image": batch_size_per_image,
                "positive_fraction": positive_fraction,
            },
            box_coder=self.box_coder,
        )
        self.loss = build_stage_part(
            "RoIHead", loss, "loss", "RoILoss", {"smooth_l1_beta": smooth_l1_beta}
        )
        self.postprocess = build_stage_part(
            "RoIHead",
            postprocess,
            "postprocess",
            "RoIPostprocess",
            {
                "score_thresh": score_thresh,
                "nms_thresh": nms_thresh,
                "detections_per_img": detections_per_img,
            },
            box_coder=self.box_coder,
        )

    def forward(
        self,
        features: list[Tensor],
        proposals: list[Tensor],
        image_sizes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> list[dict[str, Tensor]] | dict[str, Tensor]:
        """Losses when ``targets`` are given, else detections per image (labels 0..C-1)."""
        if targets is None:
            logits, deltas = self.predict_rois(features, proposals, image_sizes)
            return self.postprocess(logits, deltas, proposals, image_sizes)
        proposals, labels, box_targets = self.assigner(proposals, targets)
        logits, deltas = self.predict_rois(features, proposals, image_sizes)
        return self.loss(logits, deltas, labels, box_targets)

    def predict_rois(
        self, features: list[Tensor], proposals: list[Tensor], image_sizes: list[tuple[int, int]]
    ) -> tuple[Tensor, Tensor]:
        """The box branch's raw outputs: class logits [R, C + 1] and per-class deltas
        [R, (C + 1) * 4], float32."""
        maps = dict(zip(self.level_names, features, strict=False))  # P6 is RPN-only
        pooled = multiscale_roi_align(self.roi_align, maps, proposals, image_sizes)  # [R,C,S,S]
        x = self.box_head(pooled)
        return _at_least_float32(self.cls_score(x)), _at_least_float32(self.bbox_pred(x))


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 (autocast) -> float32; float32 and float64 models keep theirs."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
