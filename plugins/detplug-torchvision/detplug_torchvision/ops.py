"""Box operations shared by the detectors, written so that an exported graph can hold them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchvision
from torch import Tensor

__all__ = [
    "batched_nms",
    "detections_per_image",
    "level_topk",
    "multiscale_roi_align",
    "split_by_image",
    "topk_per_level",
]


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """``torchvision.ops.batched_nms``: indices of the kept boxes, best score first.

    While exporting, always the coordinate trick (boxes of each category shifted apart, one
    ``nms``): torchvision chooses between two strategies by the number of boxes, a
    data-dependent branch that ``torch.export`` cannot hold. Both give the same boxes.
    """
    if not torch.compiler.is_exporting():
        return torchvision.ops.batched_nms(boxes, scores, idxs, iou_threshold)
    # The largest coordinate, 0 for no boxes (no data-dependent emptiness test).
    top = torch.cat((boxes.reshape(-1), boxes.new_zeros(1))).max()
    offsets = idxs.to(boxes) * (top + 1)
    return torchvision.ops.nms(boxes + offsets[:, None], scores, iou_threshold)


def level_topk(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``scores.topk(min(k, L), dim=1)`` of a level's scores ``[N, L]``: values and indices.

    While exporting, a constant ``k`` whatever the image size: the top-k runs over the
    scores with ``k`` zeros appended, and a zero score never passes a detector's threshold
    (its indices then point past the level and are dropped with it).
    """
    if torch.compiler.is_exporting():
        scores = torch.cat((scores, scores.new_zeros(scores.shape[0], k)), dim=1)
        return scores.topk(k, dim=1)
    return scores.topk(min(k, scores.shape[1]), dim=1)


def split_by_image(kept: Tensor, image: Tensor, num_images: int, cap: int) -> list[Tensor]:
    """Per image, the first ``cap`` of ``kept`` (indices in descending score order, as
    :func:`batched_nms` returns them) whose ``image`` is that image, still in score order.

    One image takes no split: its graph stays data-independent, so it exports.
    """
    if num_images == 1:
        return [kept[:cap]]
    # A stable sort by image keeps the score order within each image.
    by_image = kept[torch.sort(image[kept], stable=True).indices]
    counts = torch.bincount(image[by_image], minlength=num_images).tolist()
    return [chunk[:cap] for chunk in by_image.split(counts)]


def topk_per_level(
    scores: Tensor, num_per_level: Sequence[int], k: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The ``k`` best (prior, class) pairs of each level of dense ``scores`` ``[N, A, C]``
    (priors ordered level by level, ``num_per_level`` of each), by :func:`level_topk`:
    their scores, priors and labels, each ``[N, K]`` (K: the levels' k's together)."""
    n, _, num_classes = scores.shape
    values, indices = [], []
    start = 0
    for count in num_per_level:
        level = scores[:, start : start + count].reshape(n, -1)  # [N, count * C]
        value, index = level_topk(level, k)
        values.append(value)
        indices.append(index + start * num_classes)
        start += count
    index = torch.cat(indices, dim=1)
    prior = torch.div(index, num_classes, rounding_mode="floor")
    return torch.cat(values, dim=1), prior, index % num_classes


def detections_per_image(
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    image: Tensor,
    image_sizes: Sequence[tuple[int, int]],
    num_classes: int,
    nms_thresh: float,
    cap: int,
) -> list[dict[str, Tensor]]:
    """Candidate detections of a batch (``boxes`` [M, 4] xyxy, ``scores``, ``labels`` in
    0..num_classes-1 and ``image`` [M], the index of each one's image in ``image_sizes``) ->
    per image a dict of ``boxes``/``scores``/``labels``: boxes clipped to their image's
    ``(h, w)`` (in place), class-wise NMS per image, the best ``cap`` in score order."""
    limits = torch.tensor(image_sizes, dtype=boxes.dtype, device=boxes.device)[image]
    boxes[:, 0::2] = boxes[:, 0::2].clamp(min=0).minimum(limits[:, 1:2])
    boxes[:, 1::2] = boxes[:, 1::2].clamp(min=0).minimum(limits[:, 0:1])
    kept = batched_nms(boxes, scores, image * num_classes + labels, nms_thresh)
    return [
        {"boxes": boxes[chunk], "scores": scores[chunk], "labels": labels[chunk]}
        for chunk in split_by_image(kept, image, len(image_sizes), cap)
    ]


def multiscale_roi_align(
    pooler: torchvision.ops.MultiScaleRoIAlign,
    features: dict[str, Tensor],
    boxes: list[Tensor],
    image_sizes: list[tuple[int, int]],
) -> Tensor:
    """``pooler(features, boxes, image_sizes)``: RoIAlign of each box on its FPN level.

    While exporting, each level pools every box and ``torch.where`` keeps the right one:
    torchvision writes each level's boxes into the result by data-dependent indexing, which
    ``torch.export`` cannot hold. The pooler's scales must be set already (by one eager call,
    as ``DeployModel`` export does).
    """
    if not torch.compiler.is_exporting() or pooler.scales is None or len(pooler.scales) == 1:
        return pooler(features, boxes, image_sizes)
    levels = pooler.map_levels(boxes)  # [R]
    rois = torch.cat(
        [torch.cat((torch.full_like(b[:, :1], i), b), dim=1) for i, b in enumerate(boxes)]
    )
    result = None
    for level, (name, scale) in enumerate(zip(pooler.featmap_names, pooler.scales, strict=True)):
        pooled = torchvision.ops.roi_align(
            features[name], rois, pooler.output_size, scale, pooler.sampling_ratio
        )
        result = (
            pooled
            if result is None
            else torch.where((levels == level)[:, None, None, None], pooled, result)
        )
    return result
