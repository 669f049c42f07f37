"""RTMDet post-processing: sigmoid scores, per-level top-k, box decoding, batched NMS."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from detplug_torchvision.ops import detections_per_image, topk_per_level
from torch import Tensor

from detplug_rtmdet.points import decode
from detplug_rtmdet.registries import MODELS


@MODELS.register()
class RTMDetPostprocess:
    """Head outputs -> detections, vectorised over images and levels.

    Per image and level the ``topk_candidates`` best (point, class) pairs whose sigmoid
    score passes ``score_thresh`` are decoded and clipped to the image; class-wise NMS at
    ``nms_thresh`` (one ``batched_nms`` for the batch) keeps the ``detections_per_img``
    best. RTMDet's COCO test setting: 0.001, 1000 per level, 0.65, 300.
    """

    def __init__(
        self,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.65,
        topk_candidates: int = 1000,
        detections_per_img: int = 100,
    ) -> None:
        self.score_thresh = float(score_thresh)
        self.nms_thresh = float(nms_thresh)
        self.topk_candidates = int(topk_candidates)
        self.detections_per_img = int(detections_per_img)

    def __call__(
        self,
        cls_logits: Tensor,
        log_distances: Tensor,
        points: Tensor,
        strides: Tensor,
        num_per_level: Sequence[int],
        image_sizes: Sequence[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        """cls_logits [N, A, C], log_distances [N, A, 4], points [A, 2], strides [A];
        image_sizes: (h, w) of each image -> one dict per image."""
        n, _, num_classes = cls_logits.shape
        scores = torch.sigmoid(cls_logits.float())
        score, point, label = topk_per_level(scores, num_per_level, self.topk_candidates)

        keep = score > self.score_thresh  # [N, K]
        image = torch.arange(n, device=score.device)[:, None].expand_as(keep)[keep]
        point, label, score = point[keep], label[keep], score[keep]
        boxes = decode(log_distances[image, point].float(), points[point], strides[point])
        return detections_per_image(
            boxes, score, label, image, image_sizes, num_classes, self.nms_thresh,
            self.detections_per_img,
        )  # fmt: skip
