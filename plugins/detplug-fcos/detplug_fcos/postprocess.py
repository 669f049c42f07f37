"""FCOS post-processing: scores, per-level top-k, box decoding, batched NMS."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from detplug_torchvision.ops import detections_per_image, topk_per_level
from torch import Tensor

from detplug_fcos import coder
from detplug_fcos.registries import MODELS


@MODELS.register()
class FCOSPostprocess:
    """Turn head outputs into detections, vectorised over images and levels.

    Score = sqrt(sigmoid(class logit) * sigmoid(centerness logit)). Per image and level the
    ``topk_candidates`` best (point, class) pairs scoring above ``score_thresh`` are decoded
    and clipped to the image; class-wise NMS at ``nms_thresh`` (one ``batched_nms`` call for
    the whole batch) then keeps the ``detections_per_img`` best. Same result as
    torchvision's FCOS.postprocess_detections.
    """

    def __init__(
        self,
        score_thresh: float = 0.2,
        nms_thresh: float = 0.6,
        topk_candidates: int = 1000,
        detections_per_img: int = 100,
    ) -> None:
        self.score_thresh = score_thresh
        self.nms_thresh = nms_thresh
        self.topk_candidates = topk_candidates
        self.detections_per_img = detections_per_img

    def __call__(
        self,
        cls_logits: Tensor,
        box_deltas: Tensor,
        ctr_logits: Tensor,
        points: Tensor,
        sizes: Tensor,
        num_per_level: Sequence[int],
        image_sizes: Sequence[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        """cls_logits [N, A, C], box_deltas [N, A, 4], ctr_logits [N, A], points [A, 2],
        sizes [A]; image_sizes: (h, w) of each image -> one dict per image."""
        n, _, num_classes = cls_logits.shape
        # Squared scores: sqrt is monotonic, so top-k and threshold can wait for it.
        scores = torch.sigmoid(cls_logits.float()).mul_(
            torch.sigmoid(ctr_logits.float())[..., None]
        )
        score, point, label = topk_per_level(scores, num_per_level, self.topk_candidates)
        score = score.sqrt_()  # [N, K]

        keep = score > self.score_thresh  # [N, K]
        image = torch.arange(n, device=score.device)[:, None].expand_as(keep)[keep]
        point, label, score = point[keep], label[keep], score[keep]
        boxes = coder.decode(box_deltas[image, point].float(), points[point], sizes[point])
        return detections_per_image(
            boxes, score, label, image, image_sizes, num_classes, self.nms_thresh,
            self.detections_per_img,
        )  # fmt: skip
