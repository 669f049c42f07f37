"""Synthetic data a detector can fit in seconds, and the loop that proves it does: the
"a small model learns" tests of the detector plugins."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

COLOURS = ((0.9, 0.1, 0.1), (0.1, 0.8, 0.1), (0.1, 0.2, 0.9))  # class 0, 1, 2
CLASSES = ["red", "green", "blue"]


def rectangles_dataset(
    num_images: int, size: int = 96, seed: int = 0, max_side: int | None = None
) -> tuple[list[Tensor], list[dict[str, Any]]]:
    """Images ``[3, size, size]`` with 1-3 filled rectangles in one of three colours (the
    class, :data:`COLOURS`) on a grey, noisy background; rectangle sides from ``size // 8``
    to ``max_side`` (default ``size // 2``), exclusive. Targets hold ``boxes``, ``labels``
    and ``image_id`` (0, 1, ...)."""
    top = size // 2 if max_side is None else int(max_side)
    g = torch.Generator().manual_seed(seed)
    images, targets = [], []
    for _ in range(num_images):
        img = 0.45 + 0.1 * torch.rand(3, size, size, generator=g)
        boxes, labels = [], []
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            w, h = (int(v) for v in torch.randint(size // 8, top, (2,), generator=g))
            x0 = int(torch.randint(0, size - w, (1,), generator=g))
            y0 = int(torch.randint(0, size - h, (1,), generator=g))
            label = int(torch.randint(0, 3, (1,), generator=g))
            img[:, y0 : y0 + h, x0 : x0 + w] = torch.tensor(COLOURS[label])[:, None, None]
            boxes.append([x0, y0, x0 + w, y0 + h])
            labels.append(label)
        images.append(img)
        targets.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32),
                "labels": torch.tensor(labels),
                "image_id": len(targets),
            }
        )
    return images, targets


def coco_metrics(model: nn.Module, images: Sequence[Tensor], targets: Sequence[dict]) -> dict:
    """COCO metrics (detplug-coco's ``CocoMetric``: ``mAP``, ``AP50``, ...) of ``model`` in
    eval mode on ``images``, for the three classes of :func:`rectangles_dataset`."""
    from detplug_coco.metric import CocoMetric

    model.eval()
    metric = CocoMetric(classes=CLASSES)
    with torch.no_grad():
        metric.update(model(list(images)), list(targets))
    return metric.compute()


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: Sequence[Tensor],
    targets: Sequence[dict],
    score: Callable[[nn.Module], float],
    good: float,
    steps: int = 100,
    check_from: int = 40,
    check_every: int = 10,
) -> tuple[float, float, float, int]:
    """Train on the whole batch for up to ``steps`` steps; from step ``check_from`` on,
    every ``check_every`` steps, ``score(model)`` is measured and training stops once it
    exceeds ``good``. Returns the first and last loss, the last score and the last step."""
    first = loss = None
    last_score, step = 0.0, 0
    for step in range(1, steps + 1):
        model.train()
        loss = sum(model(list(images), list(targets)).values())
        first = float(loss.detach()) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= check_from and step % check_every == 0:
            last_score = score(model)
            if last_score > good:
                break
    return first, float(loss.detach()), last_score, step
