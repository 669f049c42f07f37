"""Evaluation: the model over a val/test dataloader, then the metrics.

Evaluation runs the model under ``torch.inference_mode()`` and copies its outputs to the CPU
outside of it, so metrics receive ordinary tensors they may modify. A signal received during
the pass stops it after the current batch; :meth:`EvalLoop.run` then returns ``None`` (no
partial metrics) and the training loop saves a checkpoint that remembers the pass is due.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from detplug_core.runner import dist

if TYPE_CHECKING:
    from detplug_core.data.loader import BuiltLoader
    from detplug_core.runner.runner import Runner


@dataclass(frozen=True)
class EvalResult:
    """One finished evaluation: where it ran and what it measured."""

    mode: str
    epoch: int
    iter: int
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the pass, its metrics and its hooks


def record_eval(
    runner: Runner, mode: str, metrics: dict[str, float], seconds: float = 0.0
) -> EvalResult:
    """Log an evaluation (console, metrics.jsonl with ``eval_time``, results.csv) and
    remember it on the runner (``last_eval``, ``metric_keys``; ``last_metrics`` for val)."""
    result = EvalResult(mode, runner.epoch, runner.iter, dict(metrics), seconds)
    runner.message.update(metrics)
    runner.metric_keys.update(metrics)
    runner.last_eval = result
    if mode == "val":
        runner.last_metrics = metrics
    if mode == "test":
        head = f"Test [{len(runner.test_dataloader.dataset)} images]"
    elif runner.by_epoch:
        head = f"Epoch(val) [{runner.epoch}][{len(runner.val_dataloader)}]"
    else:
        head = f"Iter(val) [{runner.iter}]"
    record = {"mode": mode, "epoch": runner.epoch, "iter": runner.iter, **metrics}
    record["eval_time"] = round(seconds, 3)
    runner.log.eval_record(head, metrics, record)
    return result


def evaluate(
    runner: Runner, built: BuiltLoader, metrics: list, prefixes: list[str], mode: str
) -> EvalResult | None:
    """One timed :class:`EvalLoop` pass and its record (:func:`record_eval`); None when a
    signal cut it short (nothing is recorded then)."""
    start = time.perf_counter()
    results = EvalLoop(runner, built, metrics, prefixes, mode).run()
    if results is None:
        return None
    return record_eval(runner, mode, results, time.perf_counter() - start)


def rescale_boxes(boxes: torch.Tensor, size: tuple[int, int], orig: Any) -> torch.Tensor:
    """Boxes (xyxy) from an image of ``size`` (H, W) to one of ``orig`` (H, W)."""
    if orig is None:
        return boxes
    oh, ow = int(orig[0]), int(orig[1])
    h, w = size
    if (oh, ow) == (h, w) or boxes.numel() == 0:
        return boxes
    scale = torch.tensor([ow / w, oh / h, ow / w, oh / h], dtype=boxes.dtype)
    return boxes * scale


def _prediction_to_cpu(pred: dict, size: tuple[int, int], orig: Any) -> dict:
    out = {}
    for key, value in pred.items():
        if isinstance(value, torch.Tensor):
            # A copy made outside inference mode is an ordinary tensor that metrics may
            # modify in place.
            value = value.to("cpu", copy=True)
            if value.is_floating_point():
                value = value.float()
        out[key] = value
    if "boxes" in out:
        out["boxes"] = rescale_boxes(out["boxes"], size, orig)
    return out


class EvalLoop:
    """Runs the model over a val/test dataloader and evaluates the metrics."""

    def __init__(
        self, runner: Runner, built: BuiltLoader, metrics: list, prefixes: list[str], mode: str
    ) -> None:
        self.runner = runner
        self.built = built
        self.metrics = metrics
        self.prefixes = prefixes
        self.mode = mode

    def run(self) -> dict[str, float] | None:
        """The metrics (``<prefix>/<key>`` -> float), or None when a signal cut it short."""
        r, mode, hooks = self.runner, self.mode, self.runner.hooks
        hooks.call(f"before_{mode}", runner=r)
        hooks.call(f"before_{mode}_epoch", runner=r)
        model = r.model
        was_training = model.training
        model.eval()
        for metric in self.metrics:
            metric.reset()
        pending: list[tuple[list, list]] = []
        has_before, has_after = hooks.has(f"before_{mode}_iter"), hooks.has(f"after_{mode}_iter")
        bar = r.log.eval_bar(len(self.built.loader), mode)
        for batch_idx, batch in enumerate(self.built.loader):
            if has_before:
                hooks.call(f"before_{mode}_iter", runner=r, batch_idx=batch_idx, data_batch=batch)
            preds, targets = self._predict(batch)
            if dist.is_active():
                pending.append((preds, targets))
            else:
                for metric in self.metrics:
                    metric.update(preds, targets)
            if has_after:
                hooks.call(
                    f"after_{mode}_iter",
                    runner=r,
                    batch_idx=batch_idx,
                    data_batch=batch,
                    outputs=preds,
                )
            bar.update()
            if r.signal_pending:  # this rank's own signal: no collective in this loop
                break
        bar.close()
        model.train(was_training)
        if r.agree_signals():  # interrupted: no partial metrics, the training loop saves
            return None
        results = self._evaluate(pending)
        hooks.call(f"after_{mode}_epoch", runner=r, metrics=results)
        hooks.call(f"after_{mode}", runner=r)
        return results

    def _predict(self, batch: Any) -> tuple[list[dict], list[dict]]:
        r = self.runner
        images, targets = batch
        on_device = [img.to(r.device, non_blocking=True) for img in images]
        with torch.inference_mode(), r.autocast():
            preds = r.model(on_device)
        out_preds, out_targets = [], []
        for image, pred, target in zip(images, preds, targets, strict=True):
            size = (int(image.shape[-2]), int(image.shape[-1]))
            orig = target.get("orig_size")
            out_preds.append(_prediction_to_cpu(pred, size, orig))
            gt = dict(target)
            if isinstance(gt.get("boxes"), torch.Tensor):
                gt["boxes"] = rescale_boxes(gt["boxes"].float(), size, orig)
            out_targets.append(gt)
        return out_preds, out_targets

    def _evaluate(self, pending: list[tuple[list, list]]) -> dict[str, float]:
        if dist.is_active():
            gathered = dist.gather_to_main(pending)
            if gathered is not None:
                preds, targets = _merge_ranks(gathered, interleave=not self.built.custom_batches)
                for metric in self.metrics:
                    metric.update(preds, targets)
        results: dict[str, float] = {}
        if self.runner.rank == 0:
            for prefix, metric in zip(self.prefixes, self.metrics, strict=True):
                for key, value in metric.compute().items():
                    results[f"{prefix}/{key}"] = float(value)
        return dist.broadcast_from_main(results)


def _merge_ranks(gathered: list, interleave: bool) -> tuple[list, list]:
    """Put every rank's (predictions, targets) back in dataset order (ShardSampler gives
    rank r the samples r, r + world_size, ...)."""
    per_rank = []
    for batches in gathered:
        preds = [p for batch_preds, _ in batches for p in batch_preds]
        targets = [t for _, batch_targets in batches for t in batch_targets]
        per_rank.append(list(zip(preds, targets, strict=True)))
    if interleave:
        longest = max(map(len, per_rank), default=0)
        order = [items[i] for i in range(longest) for items in per_rank if i < len(items)]
    else:
        order = [item for items in per_rank for item in items]
    return [p for p, _ in order], [t for _, t in order]
