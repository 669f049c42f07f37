"""From dense per-anchor outputs to detections: threshold, top-k per level, decode, NMS."""

from __future__ import annotations

import torch
from detplug_torchvision.ops import batched_nms
from torch import Tensor
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import clip_boxes_to_image

from detplug_retinanet.registries import MODELS


@MODELS.register()
class RetinaNetPostprocess:
    """The detector's ``postprocess`` part: torchvision RetinaNet's post-processing, with
    the sigmoid done once per batch.

    Per image and level: keep scores > ``score_thresh``, then the ``topk_candidates`` best
    (anchor, class) pairs; decode the kept boxes of all levels at once, clip them to the
    image, class-wise NMS at ``nms_thresh``, keep the ``detections_per_img`` best.
    ``box_coder`` is handed over by the detector.
    """

    def __init__(
        self,
        score_thresh: float = 0.05,
        topk_candidates: int = 1000,
        nms_thresh: float = 0.5,
        detections_per_img: int = 300,
        box_coder: BoxCoder | None = None,
    ) -> None:
        self.box_coder = box_coder or BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.score_thresh = score_thresh
        self.topk_candidates = topk_candidates
        self.nms_thresh = nms_thresh
        self.detections_per_img = detections_per_img

    def __call__(
        self,
        logits: Tensor,
        deltas: Tensor,
        anchors: Tensor,
        anchors_per_level: list[int],
        image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        """logits [N, sum HWA, K], deltas [N, sum HWA, 4], anchors [sum HWA, 4] -> one
        ``{"boxes", "scores", "labels"}`` per image, in the (unpadded) image's pixels."""
        num_classes = logits.shape[-1]
        scores = logits.sigmoid()
        offsets = [0]
        for n in anchors_per_level[:-1]:
            offsets.append(offsets[-1] + n)
        results = []
        for i, image_size in enumerate(image_sizes):
            keep_scores, keep_idx = [], []
            for start, count in zip(offsets, anchors_per_level, strict=True):
                level = scores[i, start : start + count].flatten()  # [HWA_l * K]
                idx = torch.where(level > self.score_thresh)[0]
                top, order = level[idx].topk(min(self.topk_candidates, idx.numel()))
                keep_scores.append(top)
                keep_idx.append(idx[order] + start * num_classes)
            flat_idx = torch.cat(keep_idx)
            anchor_idx = torch.div(flat_idx, num_classes, rounding_mode="floor")
            labels = flat_idx % num_classes
            image_scores = torch.cat(keep_scores)
            boxes = self.box_coder.decode_single(deltas[i, anchor_idx], anchors[anchor_idx])
            boxes = clip_boxes_to_image(boxes, image_size)
            keep = batched_nms(boxes, image_scores, labels, self.nms_thresh)
            keep = keep[: self.detections_per_img]
            results.append(
                {"boxes": boxes[keep], "scores": image_scores[keep], "labels": labels[keep]}
            )
        return results
