"""TrainingCurvesHook: a PNG of losses, learning rate and metrics against iteration."""

from __future__ import annotations

import json
import os
from pathlib import Path

from detplug_core import Hook, RunnerView
from detplug_hooks.checks import check_str
from detplug_hooks.registries import HOOKS
from detplug_hooks.runner_access import is_main_process, work_path

NAME = "TrainingCurvesHook"


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file; a torn last line (crash while writing) is skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def plot_curves(train: list[dict], evals: list[dict], out: Path, title: str = "") -> Path:
    """Three panels: every ``loss*`` scalar, ``lr``, and every metric, against iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    loss_keys = sorted({k for r in train for k in r if k.startswith("loss")})
    for key in loss_keys:
        pts = [(r["iter"], r[key]) for r in train if key in r]
        axes[0].plot(*zip(*pts, strict=True), label=key, lw=2 if key == "loss" else 1)
    axes[0].set(title="training losses", xlabel="iteration")
    lr = [(r["iter"], r["lr"]) for r in train if "lr" in r]
    if lr:
        axes[1].plot(*zip(*lr, strict=True), color="tab:orange")
    axes[1].set(title="learning rate", xlabel="iteration")
    metric_keys = sorted({k for r in evals for k in r if "/" in k})
    main = [k for k in metric_keys if k.endswith(("/mAP", "/AP50", "/mAP_11pt"))] or metric_keys
    for key in main:
        pts = [(r["iter"], r[key]) for r in evals if r.get(key, -1) >= 0]
        if pts:
            axes[2].plot(*zip(*pts, strict=True), marker="o", label=key)
    axes[2].set(title="validation metrics", xlabel="iteration", ylim=(0, 1))
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out)
    return out


@HOOKS.register()
class TrainingCurvesHook(Hook):
    """Redraws ``curves.png`` in the work dir after each evaluation and at the end of the
    run, from the runner's own ``scalars.jsonl`` and ``metrics.jsonl`` (so the picture shows
    exactly what was logged, across resumes too).

    Args:
        filename: the PNG, relative to the work dir unless absolute.
    """

    priority = "LOWEST"  # after the runner and other hooks have logged this step

    def __init__(self, filename: str = "curves.png") -> None:
        self.filename = check_str(NAME, "filename", filename)

    def _draw(self, runner: RunnerView) -> None:
        if not is_main_process(runner):
            return
        work = Path(runner.work_dir)
        train = [r for r in read_jsonl(work / "scalars.jsonl") if r.get("mode") == "train"]
        evals = [r for r in read_jsonl(work / "metrics.jsonl") if r.get("mode") == "val"]
        if train or evals:
            plot_curves(train, evals, work_path(runner, self.filename), title=work.name)

    def after_val_epoch(self, runner: RunnerView, metrics: dict) -> None:
        self._draw(runner)

    def after_run(self, runner: RunnerView) -> None:
        self._draw(runner)
