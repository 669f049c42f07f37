"""Evaluation: the :class:`Evaluator` of a run and its :class:`EvalLoop` pass.

The evaluator owns what evaluations leave behind (``last_eval``, ``last_metrics``,
``metric_keys``) and the one place that dispatches the evaluation stages; the runner's
``val()``/``test()`` and the built-in ValidationHook call :meth:`Evaluator.run`.

A pass runs the model under ``torch.inference_mode()`` and copies its outputs to the CPU
outside of it, so metrics receive ordinary tensors they may modify, with boxes and masks
brought to ``orig_size`` (``rescale``). A metric with a ``prepare(predictions, targets)``
method gets each batch through it first, on the rank that predicted it, and keeps only what
it returns (e.g. masks as run-length encodings instead of image-sized tensors): under DDP
every batch is kept until the gather, so what a metric keeps must be small. It is a scope: what a
hook enters with :meth:`Evaluator.enter_context` in ``before_{val,test}_epoch`` (EMAHook's
averaged weights) is exited as soon as the model outputs are in, before the metrics'
``after_*_epoch`` stage, however the pass ends. A signal received during the pass stops it
after the current batch; :meth:`Evaluator.run` then returns ``None`` (no partial metrics)
with the trained weights back in the model, and the training loop saves a checkpoint that
remembers the pass is due.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from detplug_core import dist
from detplug_core.runner.rescale import rescale_boxes, rescale_masks
from detplug_core.runner.results import EvalResult

if TYPE_CHECKING:
    from detplug_core.data.loader import BuiltLoader
    from detplug_core.runner.dist_signals import RunSignals
    from detplug_core.runner.hook_dispatch import HookDispatcher
    from detplug_core.runner.protocol import RunnerView

__all__ = ["EvalLoop", "EvalResult", "Evaluator", "rescale_boxes", "rescale_masks"]

T = TypeVar("T")


class Evaluator:
    """Runs evaluation passes for one runner and remembers the last one."""

    def __init__(self, runner: RunnerView, hooks: HookDispatcher, signals: RunSignals) -> None:
        self.runner = runner  # what the stages receive as ``runner``; read, never called
        self.hooks = hooks
        self.signals = signals
        self.last_eval: EvalResult | None = None
        self.last_metrics: dict[str, float] = {}
        self.metric_keys: set[str] = set()
        self._scope: contextlib.ExitStack | None = None

    @property
    def in_pass(self) -> bool:
        """Whether a pass's model outputs are being produced (its scope is open)."""
        return self._scope is not None

    def enter_context(self, cm: contextlib.AbstractContextManager[T]) -> T:
        """Enter ``cm`` for the current pass (see the module docstring)."""
        if self._scope is None:
            raise RuntimeError(
                "runner.evaluator.enter_context() is for before_val_epoch/before_test_epoch "
                "(no evaluation pass is running)"
            )
        return self._scope.enter_context(cm)

    def run(
        self, data: BuiltLoader, metrics: list, prefixes: list[str], mode: str
    ) -> EvalResult | None:
        """One timed :class:`EvalLoop` pass over ``data`` and its record (logged, kept as
        ``last_eval``); None when a signal cut it short (nothing is recorded then)."""
        start = time.perf_counter()
        loop = EvalLoop(self.runner, data, metrics, mode)
        hooks, runner = self.hooks, self.runner
        hooks.call(f"before_{mode}", runner=runner)
        with contextlib.ExitStack() as scope:
            self._scope = scope
            try:
                hooks.call(f"before_{mode}_epoch", runner=runner)
                pending = loop.predict_all(hooks, self.signals)
            finally:
                self._scope = None
        if self.signals.agree():  # interrupted: no partial metrics, the training loop saves
            return None
        results = loop.compute(pending, prefixes)
        hooks.call(f"after_{mode}_epoch", runner=runner, metrics=results)
        hooks.call(f"after_{mode}", runner=runner)
        return self._record(mode, results, time.perf_counter() - start)

    def _record(self, mode: str, metrics: dict[str, float], seconds: float) -> EvalResult:
        """Log an evaluation (console, metrics.jsonl with ``eval_time``, results.csv) and
        remember it."""
        r = self.runner
        result = EvalResult(mode, r.epoch, r.iter, dict(metrics), seconds)
        r.message.publish(metrics)
        self.metric_keys.update(metrics)
        self.last_eval = result
        if mode == "val":
            self.last_metrics = metrics
        if mode == "test":
            head = f"Test [{len(r.test_dataloader.dataset)} images]"
        elif r.by_epoch:
            head = f"Epoch(val) [{r.epoch}][{len(r.val_dataloader)}]"
        else:
            head = f"Iter(val) [{r.iter}]"
        record = {"mode": mode, "epoch": r.epoch, "iter": r.iter, **metrics}
        record["eval_time"] = round(seconds, 3)
        r.log.eval_record(head, metrics, record)
        return result


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
    if isinstance(out.get("masks"), torch.Tensor):  # box_masks follow their boxes
        out["masks"] = rescale_masks(out["masks"], size, orig)
    return out


def _target_to_orig(target: dict, size: tuple[int, int], orig: Any) -> dict:
    gt = dict(target)
    if isinstance(gt.get("boxes"), torch.Tensor):
        gt["boxes"] = rescale_boxes(gt["boxes"].float(), size, orig)
    if isinstance(gt.get("masks"), torch.Tensor):
        gt["masks"] = rescale_masks(gt["masks"].as_subclass(torch.Tensor), size, orig)
    return gt


def _prepared(metric: Any, preds: list[dict], targets: list[dict]) -> tuple[list, list]:
    """The batch as ``metric`` keeps it: through its optional ``prepare`` method."""
    prepare = getattr(metric, "prepare", None)
    return prepare(preds, targets) if callable(prepare) else (preds, targets)


class EvalLoop:
    """The model over a val/test dataloader (:meth:`predict_all`), then the metrics
    (:meth:`compute`)."""

    def __init__(self, runner: RunnerView, built: BuiltLoader, metrics: list, mode: str) -> None:
        self.runner = runner
        self.built = built
        self.metrics = metrics
        self.mode = mode

    def predict_all(self, hooks: HookDispatcher, signals: RunSignals) -> list[list[tuple]]:
        """Every batch's predictions and targets as each metric prepared them (kept for the
        gather under DDP, else given to the metrics at once): one ``[(predictions,
        targets) per metric]`` per batch; stops after the batch where this rank got a
        signal."""
        r, mode = self.runner, self.mode
        model = r.model
        was_training = model.training
        model.eval()
        for metric in self.metrics:
            metric.reset()
        pending: list[list[tuple]] = []
        has_before, has_after = hooks.has(f"before_{mode}_iter"), hooks.has(f"after_{mode}_iter")
        bar = r.log.eval_bar(len(self.built.loader), mode)
        try:
            for batch_idx, batch in enumerate(self.built.loader):
                if has_before:
                    hooks.call(
                        f"before_{mode}_iter", runner=r, batch_idx=batch_idx, data_batch=batch
                    )
                preds, targets = self._predict(batch)
                prepared = [_prepared(m, preds, targets) for m in self.metrics]
                if dist.is_active():
                    pending.append(prepared)
                else:
                    for metric, (metric_preds, metric_targets) in zip(
                        self.metrics, prepared, strict=True
                    ):
                        metric.update(metric_preds, metric_targets)
                if has_after:
                    hooks.call(
                        f"after_{mode}_iter",
                        runner=r,
                        batch_idx=batch_idx,
                        data_batch=batch,
                        outputs=preds,
                    )
                bar.update()
                if signals.pending:  # this rank's own signal: no collective in this loop
                    break
        finally:
            bar.close()
            model.train(was_training)
        return pending

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
            out_targets.append(_target_to_orig(target, size, orig))
        return out_preds, out_targets

    def compute(self, pending: list[list[tuple]], prefixes: list[str]) -> dict[str, float]:
        """The metrics (``<prefix>/<key>`` -> float), computed on rank 0 and broadcast."""
        if dist.is_active():
            gathered = dist.gather_to_main(pending)  # [rank][batch][metric]
            if gathered is not None:
                interleave = not self.built.custom_batches
                for i, metric in enumerate(self.metrics):
                    per_rank = [[batch[i] for batch in batches] for batches in gathered]
                    preds, targets = _merge_ranks(per_rank, interleave)
                    metric.update(preds, targets)
        results: dict[str, float] = {}
        if self.runner.rank == 0:
            for prefix, metric in zip(prefixes, self.metrics, strict=True):
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
