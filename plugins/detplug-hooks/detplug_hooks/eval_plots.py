"""EvalPlotsHook: per-class precision-recall curves and a confusion matrix after evaluation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch

from detplug_core import Hook
from detplug_hooks.checks import check_float
from detplug_hooks.plots.confusion import plot_confusion
from detplug_hooks.plots.matching import MatchAccumulator
from detplug_hooks.plots.pr_curve import plot_pr_curves
from detplug_hooks.registries import HOOKS
from detplug_hooks.runner_access import is_main_process, work_path

NAME = "EvalPlotsHook"


def _in_original_pixels(image: torch.Tensor, target: Mapping) -> dict:
    """A target's boxes from the network input's pixels to the original image's, as the
    runner does for predictions and metrics (``orig_size``: (H, W))."""
    out = {k: target[k] for k in ("boxes", "labels", "ignore") if k in target}
    boxes = torch.as_tensor(target["boxes"], dtype=torch.float32).reshape(-1, 4)
    orig = target.get("orig_size")
    if orig is not None and boxes.numel():
        h, w = image.shape[-2:]
        oh, ow = int(orig[0]), int(orig[1])
        boxes = boxes * torch.tensor([ow / w, oh / h, ow / w, oh / h])
    out["boxes"] = boxes
    return out


@HOOKS.register()
class EvalPlotsHook(Hook):
    """After each validation and test, write into the work dir, next to ``metrics.jsonl``:
    ``<mode>_pr_curve.png`` (per-class precision-recall at ``iou_thr``),
    ``<mode>_confusion_matrix.png`` (with a background row and column; detections scoring at
    least ``score_thr`` matched at ``iou_thr``) and ``<mode>_confusion_matrix.json`` (the
    numbers). A training run's files are those of its last validation.

    Works for any dataset whose items carry ``boxes``/``labels`` (and ``orig_size`` when
    resized): the hook matches the predictions the evaluation loop hands every hook. Under
    DDP the pictures show the main process's share of the images.

    Args:
        iou_thr: IoU for a detection to match a ground-truth box.
        score_thr: the confusion matrix's score threshold (the PR curves use every score).
    """

    priority = "LOW"

    def __init__(self, iou_thr: float = 0.5, score_thr: float = 0.25) -> None:
        self.iou_thr = check_float(NAME, "iou_thr", iou_thr, low=0, high=1, low_open=True)
        self.score_thr = check_float(NAME, "score_thr", score_thr, low=0, high=1)
        self._acc: MatchAccumulator | None = None
        self._classes: list[str] = []

    def _start(self, runner: Any, mode: str) -> None:
        loader = getattr(runner, f"{mode}_dataloader")
        classes = loader.dataset.classes
        self._classes = [str(c) for c in classes]
        self._acc = MatchAccumulator(len(self._classes), self.iou_thr, self.score_thr)

    def _add(self, data_batch: Any, outputs: list) -> None:
        images, targets = data_batch
        for image, target, pred in zip(images, targets, outputs, strict=True):
            self._acc.add(pred, _in_original_pixels(image, target))

    def _write(self, runner: Any, mode: str) -> None:
        acc, self._acc = self._acc, None
        if acc is None or not is_main_process(runner):
            return
        plot_pr_curves(acc, self._classes, work_path(runner, f"{mode}_pr_curve.png"))
        plot_confusion(acc, self._classes, work_path(runner, f"{mode}_confusion_matrix.png"))
        numbers = {
            "iter": int(runner.iter),
            "iou_thr": self.iou_thr,
            "score_thr": self.score_thr,
            "classes": [*self._classes, "background"],
            "rows": "true class",
            "columns": "predicted class",
            "matrix": acc.confusion.tolist(),
            "ap_at_iou_thr": {n: acc.pr_curve(c)[2] for c, n in enumerate(self._classes)},
        }
        path = work_path(runner, f"{mode}_confusion_matrix.json")
        path.write_text(json.dumps(numbers, indent=1), encoding="utf-8")

    def before_val_epoch(self, runner: Any) -> None:
        self._start(runner, "val")

    def after_val_iter(self, runner: Any, batch_idx: int, data_batch: Any, outputs: list) -> None:
        self._add(data_batch, outputs)

    def after_val_epoch(self, runner: Any, metrics: dict) -> None:
        self._write(runner, "val")

    def before_test_epoch(self, runner: Any) -> None:
        self._start(runner, "test")

    def after_test_iter(self, runner: Any, batch_idx: int, data_batch: Any, outputs: list) -> None:
        self._add(data_batch, outputs)

    def after_test_epoch(self, runner: Any, metrics: dict) -> None:
        self._write(runner, "test")
