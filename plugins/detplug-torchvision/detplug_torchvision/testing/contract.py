"""The model contract of docs/architecture.md, as each detector plugin tests it on a small
model of its own: train mode takes ignored and empty targets and returns finite scalar
losses that backpropagate; eval mode returns one detections dict per image, inside it."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

SIZES = [(64, 80), (48, 64)]


def contract_batch(labels: tuple[int, int] = (1, 2)) -> tuple[list, list[dict]]:
    """Two images of :data:`SIZES`: the first with a box of label ``labels[0]`` and an
    ignored one of ``labels[1]``, the second without boxes."""
    images = [torch.rand(3, h, w) for h, w in SIZES]
    targets = [
        {
            "boxes": torch.tensor([[4.0, 4.0, 40.0, 30.0], [10.0, 10.0, 20.0, 20.0]]),
            "labels": torch.tensor(list(labels)),
            "ignore": torch.tensor([False, True]),
        },
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    return images, targets


def assert_model_contract(
    model: nn.Module, loss_names: Iterable[str], num_classes: int, labels: tuple[int, int] = (1, 2)
) -> None:
    """``model`` (``num_classes`` classes) on :func:`contract_batch`: the losses
    ``loss_names``, finite, with gradients; then detections with ``[K, 4]`` boxes inside
    each image and int64 labels in ``0..num_classes-1``."""
    images, targets = contract_batch(labels)
    model.train()
    losses = model(images, targets)
    assert set(losses) == set(loss_names)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert any(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == len(images)
    for det, (h, w) in zip(out, SIZES, strict=True):
        assert det["boxes"].shape[1] == 4 and det["labels"].dtype == torch.int64
        assert (det["boxes"][:, 2] <= w).all() and (det["boxes"][:, 3] <= h).all()
        assert ((det["labels"] >= 0) & (det["labels"] < num_classes)).all()
