"""From per-RoI class scores and per-class deltas to final detections."""

from __future__ import annotations

import torch
from detplug_torchvision.ops import batched_nms
from torch import Tensor
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import clip_boxes_to_image, remove_small_boxes

from detplug_faster_rcnn.registries import MODELS


def detections_from_rois(
    logits: Tensor,
    deltas: Tensor,
    proposals: list[Tensor],
    image_sizes: list[tuple[int, int]],
    box_coder: BoxCoder,
    score_thresh: float,
    nms_thresh: float,
    detections_per_img: int,
    min_size: float = 1e-2,
) -> list[dict[str, Tensor]]:
    """torchvision's RoIHeads post-processing; labels come out 0-based (background dropped).

    logits [R, C + 1], deltas [R, (C + 1) * 4], proposals per image [R_i, 4].
    """
    num_classes = logits.shape[-1]
    counts = [p.shape[0] for p in proposals]
    boxes = box_coder.decode_single(deltas, torch.cat(proposals)).view(-1, num_classes, 4)
    scores = logits.softmax(-1)
    # Foreground classes only: column c + 1 is detector label c.
    labels = torch.arange(num_classes - 1, device=logits.device).view(1, -1)
    results = []
    for boxes_i, scores_i, image_size in zip(
        boxes.split(counts), scores.split(counts), image_sizes, strict=True
    ):
        boxes_i = clip_boxes_to_image(boxes_i, image_size)[:, 1:].reshape(-1, 4)
        labels_i = labels.expand(scores_i.shape[0], -1).reshape(-1)
        scores_i = scores_i[:, 1:].reshape(-1)
        keep = torch.where(scores_i > score_thresh)[0]
        boxes_i, scores_i, labels_i = boxes_i[keep], scores_i[keep], labels_i[keep]
        keep = remove_small_boxes(boxes_i, min_size)
        boxes_i, scores_i, labels_i = boxes_i[keep], scores_i[keep], labels_i[keep]
        keep = batched_nms(boxes_i, scores_i, labels_i, nms_thresh)[:detections_per_img]
        results.append({"boxes": boxes_i[keep], "scores": scores_i[keep], "labels": labels_i[keep]})
    return results


@MODELS.register()
class RoIPostprocess:
    """The RoI stage's post-processing: :func:`detections_from_rois` with its thresholds."""

    def __init__(
        self,
        box_coder: BoxCoder,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        detections_per_img: int = 100,
    ) -> None:
        self.box_coder = box_coder
        self.score_thresh = score_thresh
        self.nms_thresh = nms_thresh
        self.detections_per_img = detections_per_img

    def __call__(
        self,
        logits: Tensor,
        deltas: Tensor,
        proposals: list[Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        """logits [R, C + 1], deltas [R, (C + 1) * 4] -> detections per image (0-based
        labels)."""
        return detections_from_rois(
            logits,
            deltas,
            proposals,
            image_sizes,
            self.box_coder,
            self.score_thresh,
            self.nms_thresh,
            self.detections_per_img,
        )
