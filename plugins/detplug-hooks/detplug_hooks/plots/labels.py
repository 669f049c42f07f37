"""``labels.png``: what the training data holds, in four panels (like Ultralytics'
labels.jpg): boxes per class, box width against height and box centres (both relative to
the image), and the box-size histogram in pixels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_labels"]

_MAX_POINTS = 20000  # scatter points drawn (a seeded sample of larger sets)


def plot_labels(
    boxes: np.ndarray,
    labels: np.ndarray,
    image_sizes: np.ndarray,
    classes: Sequence[str],
    out: Path,
    title: str = "",
) -> Path:
    """Write the PNG; ``boxes`` xyxy pixels [N,4], ``image_sizes`` (h, w) of each box [N,2]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    labels = np.asarray(labels, np.int64).reshape(-1)
    sizes = np.asarray(image_sizes, np.float64).reshape(-1, 2)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    img_h, img_w = np.maximum(sizes[:, 0], 1), np.maximum(sizes[:, 1], 1)
    pick = np.arange(len(boxes))
    if len(pick) > _MAX_POINTS:
        pick = np.sort(np.random.default_rng(0).choice(len(pick), _MAX_POINTS, replace=False))
    colours = plt.get_cmap("tab10")(labels[pick] % 10) if len(pick) else "C0"
    dot = 12 if len(pick) < 500 else 3

    fig, axes = plt.subplots(2, 2, figsize=(10, 9), constrained_layout=True)
    counts = np.bincount(labels, minlength=len(classes))[: len(classes)]
    ax = axes[0, 0]
    ax.bar(
        range(len(classes)),
        counts,
        color=[plt.get_cmap("tab10")(i % 10) for i in range(len(classes))],
    )
    ax.set_xticks(
        range(len(classes)), [str(c) for c in classes], rotation=90 if len(classes) > 8 else 0
    )
    ax.set_ylabel("boxes")
    ax.set_title(f"boxes per class ({len(boxes)} boxes)")
    ax = axes[0, 1]
    ax.scatter((w / img_w)[pick], (h / img_h)[pick], s=dot, alpha=0.5, c=colours)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="width / image width", ylabel="height / image height")
    ax.set_title("box size")
    ax = axes[1, 0]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2 / img_w, (boxes[:, 1] + boxes[:, 3]) / 2 / img_h
    ax.scatter(cx[pick], cy[pick], s=dot, alpha=0.5, c=colours)
    ax.set(xlim=(0, 1), ylim=(1, 0), xlabel="x centre / width", ylabel="y centre / height")
    ax.set_title("box centres")
    ax = axes[1, 1]
    side = np.sqrt(np.maximum(w * h, 0))
    ax.hist(side, bins=40 if len(side) else 1, color="C0")
    ax.set(xlabel="sqrt(width * height) px", ylabel="boxes")
    ax.set_title("box size in pixels")
    if title:
        fig.suptitle(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
