"""The confusion matrix (with a background row and column) as one PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detplug_hooks.fonts import drawable
from detplug_hooks.plots.figure import pyplot, save_figure, text_fonts
from detplug_hooks.plots.matching import MatchAccumulator


def _plot_confusion(
    acc: MatchAccumulator, classes: Sequence[str], out: Path, title: str = ""
) -> Path:
    """Counts, coloured by the share of each true class's row; rows true, columns predicted."""
    plt = pyplot()
    classes = [drawable(str(c)) for c in classes]
    names = [*classes, "background"]
    matrix = acc.confusion
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    side = min(4 + 0.45 * len(names), 24)
    fig, ax = plt.subplots(figsize=(side + 1.5, side), constrained_layout=True)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class's row")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true")
    if len(names) <= 30:
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color=colour)
    ax.set_title(title or f"confusion matrix: IoU >= {acc.iou_thr:g}, score >= {acc.score_thr:g}")
    return save_figure(fig, out)


def plot_confusion(
    acc: MatchAccumulator, classes: Sequence[str], out: Path, title: str = ""
) -> Path:
    """The PNG, class names in any script (:mod:`detplug_hooks.fonts`)."""
    with text_fonts():
        return _plot_confusion(acc, classes, out, title)
