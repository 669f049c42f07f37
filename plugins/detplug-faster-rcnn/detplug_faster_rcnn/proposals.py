"""Turning RPN outputs into proposals: top-n per level, decode, clip, NMS per level."""

from __future__ import annotations

import torch
from detplug_torchvision.ops import batched_nms
from torch import Tensor
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import clip_boxes_to_image, remove_small_boxes

from detplug_faster_rcnn.registries import MODELS


def select_proposals(
    objectness: Tensor,
    deltas: Tensor,
    anchors: Tensor,
    anchors_per_level: list[int],
    image_sizes: list[tuple[int, int]],
    box_coder: BoxCoder,
    pre_nms_top_n: int,
    post_nms_top_n: int,
    nms_thresh: float,
    score_thresh: float = 0.0,
    min_size: float = 1e-3,
) -> list[Tensor]:
    """Proposals per image [P_i, 4] (best first), as torchvision's RPN selects them.

    objectness [N, sum HWA] logits, deltas [N, sum HWA, 4], anchors [sum HWA, 4]. Only the
    ``pre_nms_top_n`` best anchors of each level are decoded (torchvision decodes all of
    them, then drops the rest: same boxes, less work).
    """
    num_images = objectness.shape[0]
    objectness = objectness.detach()
    top_idx, levels, offset = [], [], 0
    for level, count in enumerate(anchors_per_level):
        scores = objectness[:, offset : offset + count]
        _, idx = scores.topk(min(pre_nms_top_n, count), dim=1)  # [N, k_l]
        top_idx.append(idx + offset)
        levels.append(torch.full_like(idx, level))
        offset += count
    top_idx = torch.cat(top_idx, dim=1)  # [N, K]
    levels = torch.cat(levels, dim=1)
    batch = torch.arange(num_images, device=objectness.device)[:, None]
    scores = objectness[batch, top_idx].sigmoid()  # [N, K]
    k = top_idx.shape[1]
    boxes = box_coder.decode_single(
        deltas.detach()[batch, top_idx].reshape(-1, 4), anchors[top_idx.reshape(-1)]
    ).view(num_images, k, 4)

    proposals = []
    for boxes_i, scores_i, levels_i, image_size in zip(
        boxes, scores, levels, image_sizes, strict=True
    ):
        boxes_i = clip_boxes_to_image(boxes_i, image_size)
        keep = remove_small_boxes(boxes_i, min_size)
        boxes_i, scores_i, levels_i = boxes_i[keep], scores_i[keep], levels_i[keep]
        keep = torch.where(scores_i >= score_thresh)[0]
        boxes_i, scores_i, levels_i = boxes_i[keep], scores_i[keep], levels_i[keep]
        keep = batched_nms(boxes_i, scores_i, levels_i, nms_thresh)[:post_nms_top_n]
        proposals.append(boxes_i[keep])
    return proposals


@MODELS.register()
class RPNProposals:
    """The RPN's post-processing: :func:`select_proposals` with its budgets, which differ
    between training and inference (``pre_nms_top_n[training]``, ``post_nms_top_n[...]``)."""

    def __init__(
        self,
        box_coder: BoxCoder,
        pre_nms_top_n_train: int = 2000,
        pre_nms_top_n_test: int = 1000,
        post_nms_top_n_train: int = 2000,
        post_nms_top_n_test: int = 1000,
        nms_thresh: float = 0.7,
        score_thresh: float = 0.0,
        min_size: float = 1e-3,
    ) -> None:
        self.box_coder = box_coder
        self.pre_nms_top_n = {True: pre_nms_top_n_train, False: pre_nms_top_n_test}
        self.post_nms_top_n = {True: post_nms_top_n_train, False: post_nms_top_n_test}
        self.nms_thresh = nms_thresh
        self.score_thresh = score_thresh
        self.min_size = min_size

    def __call__(
        self,
        objectness: Tensor,
        deltas: Tensor,
        anchors: Tensor,
        anchors_per_level: list[int],
        image_sizes: list[tuple[int, int]],
        training: bool,
    ) -> list[Tensor]:
        """Proposals per image [P_i, 4], best first (see :func:`select_proposals`)."""
        return select_proposals(
            objectness,
            deltas,
            anchors,
            anchors_per_level,
            image_sizes,
            self.box_coder,
            self.pre_nms_top_n[training],
            self.post_nms_top_n[training],
            self.nms_thresh,
            self.score_thresh,
            self.min_size,
        )
