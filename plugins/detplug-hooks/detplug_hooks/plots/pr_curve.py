"""Per-class precision-recall curves at one IoU threshold, as one PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detplug_hooks.fonts import drawable
from detplug_hooks.plots.figure import pyplot, save_figure, text_fonts
from detplug_hooks.plots.matching import MatchAccumulator


def _plot_pr_curves(
    acc: MatchAccumulator, classes: Sequence[str], out: Path, title: str = ""
) -> Path:
    """One curve per class with ground truth (legend: ``name AP``), and the mean of their
    precisions on a common recall grid, thick."""
    plt = pyplot()
    classes = [drawable(str(c)) for c in classes]
    fig, ax = plt.subplots(figsize=(7, 5.5), constrained_layout=True)
    grid = np.linspace(0, 1, 101)
    means, aps = [], []
    for c, name in enumerate(classes):
        recall, precision, ap = acc.pr_curve(c)
        if ap < 0:
            continue
        aps.append(ap)
        if not precision.size:  # ground truth but no detection: AP 0, nothing to draw
            ax.plot([], [], lw=1, label=f"{name} {ap:.3f}")
            means.append(np.zeros_like(grid))
            continue
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        ax.plot(recall, envelope, lw=1, label=f"{name} {ap:.3f}")
        # Interpolated precision at each recall of the grid (0 beyond the last recall reached).
        at = np.searchsorted(recall, grid, side="left")
        reached = at < len(envelope)
        means.append(np.where(reached, envelope[np.minimum(at, len(envelope) - 1)], 0.0))
    if means:
        mean_ap = float(np.mean(aps))
        ax.plot(
            grid, np.mean(means, axis=0), lw=3, color="black", label=f"all classes {mean_ap:.3f}"
        )
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title(
        title or f"precision-recall at IoU {acc.iou_thr:g} (legend: AP{acc.iou_thr * 100:g})"
    )
    ax.grid(alpha=0.3)
    if means:
        ax.legend(fontsize=8, loc="lower left", ncol=1 if len(means) < 12 else 2)
    return save_figure(fig, out)


def plot_pr_curves(
    acc: MatchAccumulator, classes: Sequence[str], out: Path, title: str = ""
) -> Path:
    """The PNG, class names in any script (:mod:`detplug_hooks.fonts`)."""
    with text_fonts():
        return _plot_pr_curves(acc, classes, out, title)
