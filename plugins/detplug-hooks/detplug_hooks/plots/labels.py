"""``labels.png``: what the training data holds, in four panels (like Ultralytics'
labels.jpg): boxes per class, box width against height and box centres (both relative to
the image), and the box-size histogram in pixels. Class names in any script
(:mod:`detplug_hooks.fonts`); with many classes (80 for COCO) the class panel takes the
whole top row of a wider figure, so that every name keeps a readable slot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detplug_hooks.fonts import drawable
from detplug_hooks.plots.figure import pyplot, save_figure, text_fonts

__all__ = ["labels_figure", "plot_labels"]

_MAX_POINTS = 20000  # scatter points drawn (a seeded sample of larger sets)
_MANY = 20  # more classes: the class panel takes the whole top row
_NAME_SLOT = 0.2  # inches of width per class name past _MANY classes


def _class_counts(ax, counts: np.ndarray, classes: Sequence[str], plt) -> None:
    """Boxes per class: bars in class order; past ``_MANY`` classes the figure is widened so
    each name keeps ``_NAME_SLOT`` inches (readable at 80 classes)."""
    names = [drawable(str(c)) for c in classes]
    colours = [
        plt.get_cmap("tab20" if len(names) > 10 else "tab10")(i % 20) for i in range(len(names))
    ]
    ax.bar(range(len(names)), counts, color=colours)
    many = len(names) > _MANY
    ax.set_xticks(range(len(names)), names, rotation=90 if len(names) > 8 else 0,
                  fontsize=8 if many else 10)  # fmt: skip
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel("boxes")


def labels_figure(
    boxes: np.ndarray,
    labels: np.ndarray,
    image_sizes: np.ndarray,
    classes: Sequence[str],
    title: str = "",
):  # -> matplotlib.figure.Figure
    """The labels.png figure (see :func:`plot_labels`); the caller saves or closes it."""
    plt = pyplot()
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

    width = max(10.0, _NAME_SLOT * len(classes))
    with text_fonts():
        fig = plt.figure(figsize=(width, 9 if len(classes) <= _MANY else 11),
                         constrained_layout=True)  # fmt: skip
        grid = fig.add_gridspec(2, 3 if len(classes) > _MANY else 2)
        wide = len(classes) > _MANY
        counts = np.bincount(labels, minlength=len(classes))[: len(classes)]
        ax = fig.add_subplot(grid[0, :] if wide else grid[0, 0])
        _class_counts(ax, counts, classes, plt)
        ax.set_title(f"boxes per class ({len(boxes)} boxes)")
        ax = fig.add_subplot(grid[1, 0] if wide else grid[0, 1])
        ax.scatter((w / img_w)[pick], (h / img_h)[pick], s=dot, alpha=0.5, c=colours)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="width / image width",
               ylabel="height / image height")  # fmt: skip
        ax.set_title("box size")
        ax = fig.add_subplot(grid[1, 1])
        cx = (boxes[:, 0] + boxes[:, 2]) / 2 / img_w
        cy = (boxes[:, 1] + boxes[:, 3]) / 2 / img_h
        ax.scatter(cx[pick], cy[pick], s=dot, alpha=0.5, c=colours)
        ax.set(xlim=(0, 1), ylim=(1, 0), xlabel="x centre / width", ylabel="y centre / height")
        ax.set_title("box centres")
        ax = fig.add_subplot(grid[1, 2] if wide else grid[1, 1])
        side = np.sqrt(np.maximum(w * h, 0))
        ax.hist(side, bins=40 if len(side) else 1, color="C0")
        ax.set(xlabel="sqrt(width * height) px", ylabel="boxes")
        ax.set_title("box size in pixels")
        if title:
            fig.suptitle(drawable(title))
    return fig


def plot_labels(
    boxes: np.ndarray,
    labels: np.ndarray,
    image_sizes: np.ndarray,
    classes: Sequence[str],
    out: Path,
    title: str = "",
) -> Path:
    """Write the PNG; ``boxes`` xyxy pixels [N,4], ``image_sizes`` (h, w) of each box [N,2]."""
    fig = labels_figure(boxes, labels, image_sizes, classes, title)
    with text_fonts():
        return save_figure(fig, out, dpi=80)
