"""RTMDet post-processing: sigmoid scores, per-level top-k, box decoding, batched NMS."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from detplug_torchvision.ops import batched_nms, level_topk, split_by_image
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
        cand_scores, cand_index = [], []
        start = 0
        for count in num_per_level:
            level = scores[:, start : start + count].reshape(n, -1)  # [N, count * C]
            value, index = level_topk(level, self.topk_candidates)
            cand_scores.append(value)
            cand_index.append(index + start * num_classes)
            start += count
        score = torch.cat(cand_scores, dim=1)  # [N, K]
        index = torch.cat(cand_index, dim=1)
        point = torch.div(index, num_classes, rounding_mode="floor")
        label = index % num_classes

        keep = score > self.score_thresh
        image = torch.arange(n, device=score.device)[:, None].expand_as(keep)[keep]
        point, label, score = point[keep], label[keep], score[keep]
        boxes = decode(log_distances[image, point].float(), points[point], strides[point])
        limits = torch.tensor(image_sizes, dtype=boxes.dtype, device=boxes.device)[image]
        boxes[:, 0::2] = boxes[:, 0::2].clamp(min=0).minimum(limits[:, 1:2])
        boxes[:, 1::2] = boxes[:, 1::2].clamp(min=0).minimum(limits[:, 0:1])

        kept = batched_nms(boxes, score, image * num_classes + label, self.nms_thresh)
        return [
            {"boxes": boxes[chunk], "scores": score[chunk], "labels": label[chunk]}
            for chunk in split_by_image(kept, image, n, self.detections_per_img)
        ]
