"""The training loop (epoch- or iteration-based) and the evaluation loop (val and test).

Per training iteration the loop does only: set the lr (a few float multiplications), call the
two iteration stages (skipped when nothing implements them), run the step, append the
detached losses and two timings to lists, and compare counters. Loss values are turned into
Python floats (one device sync) only every ``log_interval`` iterations.

Order at the end of an iteration: ``after_train_iter`` -> counters advance -> log line (every
``log_interval``) -> stop request / signal check -> (iteration-based) validation and
checkpoint when due -> stop check again. At the end of an epoch: ``after_train_epoch`` ->
epoch advances -> validation when due -> checkpoint when due (so ``best_*.pth`` and hook
states include that validation) -> stop check.

Evaluation runs the model under ``torch.inference_mode()`` and copies its outputs to the CPU
outside of it, so metrics receive ordinary tensors they may modify.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch

from detplug_core.runner import dist
from detplug_core.runner.dist_signals import agree_on_signal

if TYPE_CHECKING:
    from detplug_core.data.loader import BuiltLoader
    from detplug_core.runner.runner import Runner


class IterMeter:
    """Losses and timings since the last log line; summarised with one device sync."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, torch.Tensor]] = []
        self.times: list[float] = []
        self.data_times: list[float] = []
        self.grad_norms: list[torch.Tensor] = []

    def add(self, outputs: dict, iter_time: float, data_time: float, grad_norm: Any) -> None:
        self.outputs.append(outputs)
        self.times.append(iter_time)
        self.data_times.append(data_time)
        if grad_norm is not None:
            self.grad_norms.append(grad_norm)

    def summary(self) -> dict[str, float]:
        keys: list[str] = []
        for out in self.outputs:
            keys += [k for k in out if k not in keys]
        means = [torch.stack([o[k] for o in self.outputs if k in o]).float().mean() for k in keys]
        if self.grad_norms:
            keys.append("grad_norm")
            means.append(torch.stack(self.grad_norms).float().mean())
        values = dist.all_reduce_mean(torch.stack(means)).tolist() if means else []
        result = dict(zip(keys, values, strict=True))
        if "loss" in result:  # the total last among the losses, as in the classic line
            result["loss"] = result.pop("loss")
            if "grad_norm" in result:
                result["grad_norm"] = result.pop("grad_norm")
        self.__init__()
        return result

    def mean_time(self) -> tuple[float, float]:
        n = max(len(self.times), 1)
        return sum(self.times) / n, sum(self.data_times) / n


class TrainLoop:
    """Runs training from the runner's current position to ``max_epochs``/``max_iters``."""

    def __init__(self, runner: Runner, built: BuiltLoader) -> None:
        self.runner = runner
        self.built = built
        self.meter = IterMeter()

    def finished(self) -> bool:
        r = self.runner
        return r.epoch >= r.max_epochs if r.by_epoch else r.iter >= r.max_iters

    def run(self) -> None:
        while not self.finished():
            if not self.run_epoch():
                return

    def run_epoch(self) -> bool:
        """One epoch (data pass); False when training must stop before its end."""
        r = self.runner
        hooks = r.hooks
        loader = self.built.loader
        loader.batch_sampler.set_epoch(r.epoch, skip=r.epoch_iter)
        hooks.call("before_train_epoch", runner=r)
        epoch_len = len(loader)
        if r.by_epoch:
            r.log.start_bar(epoch_len, r.epoch_iter, f"epoch {r.epoch + 1}/{r.max_epochs}")
        else:
            r.log.start_bar(r.max_iters, r.iter, "train")
        log_interval = r.log_interval
        step = r.train_step
        schedule = r.lr_schedule
        has_before, has_after = hooks.has("before_train_iter"), hooks.has("after_train_iter")
        iter_actions = r.has_iteration_actions
        t_prev = time.perf_counter()
        for batch_idx, batch in enumerate(loader, r.epoch_iter):
            t_data = time.perf_counter()
            schedule.apply(r.iter, r.epoch)
            if has_before:
                hooks.call("before_train_iter", runner=r, batch_idx=batch_idx, data_batch=batch)
            outputs = step(batch)
            r.step_done = True
            if has_after:
                hooks.call(
                    "after_train_iter",
                    runner=r,
                    batch_idx=batch_idx,
                    data_batch=batch,
                    outputs=outputs,
                )
            r.iter += 1
            r.epoch_iter += 1
            r.step_done = False
            now = time.perf_counter()
            self.meter.add(outputs, now - t_prev, t_data - t_prev, step.grad_norm)
            t_prev = now
            r.log.bar_update()
            if r.iter % log_interval == 0:
                self.log(epoch_len)
            r.signal_received = agree_on_signal(r.signal_received, r.device)
            if r.stop_training or r.signal_received:
                return False
            if iter_actions:
                r.iteration_boundary()
                if r.stop_training or r.signal_received:  # e.g. set in after_val_epoch
                    return False
                t_prev = time.perf_counter()  # validation/checkpoint time is not iteration time
            if not r.by_epoch and r.iter >= r.max_iters:
                return False
        r.log.close_bar()
        hooks.call("after_train_epoch", runner=r)
        r.epoch += 1
        r.epoch_iter = 0
        r.epoch_boundary()
        return not (r.stop_training or r.signal_received)

    def log(self, epoch_len: int) -> None:
        r = self.runner
        iter_time, data_time = self.meter.mean_time()
        losses = self.meter.summary()
        lr = r.optimizer.param_groups[0]["lr"]
        eta = iter_time * max(r.max_iters - r.iter, 0)
        memory = 0
        if r.device.type == "cuda":
            memory = torch.cuda.max_memory_allocated(r.device) // 2**20
        values: dict[str, Any] = {
            "lr": lr,
            "eta": eta,
            "time": iter_time,
            "data_time": data_time,
            "memory": memory,
            **losses,
        }
        extras = {
            k: v
            for k, v in r.message.items()
            if k not in values and k not in r.metric_keys and isinstance(v, int | float)
        }
        values.update(extras)
        r.message.update(values)
        if r.by_epoch:
            head = f"Epoch [{r.epoch + 1}][{r.epoch_iter}/{epoch_len}]"
        else:
            head = f"Iter [{r.iter}/{r.max_iters}]"
        record = {
            "mode": "train",
            "epoch": r.epoch + 1,
            "iter": r.iter,
            **{k: v for k, v in values.items() if k != "eta"},
        }
        r.log.train_record(head, values, record)


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

    def run(self) -> dict[str, float]:
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
            if r.signal_received:
                break
        bar.close()
        model.train(was_training)
        r.signal_received = agree_on_signal(r.signal_received, r.device)
        if r.signal_received:  # interrupted: no partial metrics, the training loop saves
            return {}
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
        order = [
            item
            for i in range(max(map(len, per_rank), default=0))
            for rank_items in per_rank
            if i < len(rank_items)
            for item in [rank_items[i]]
        ]
    else:
        order = [item for rank_items in per_rank for item in rank_items]
    return [p for p, _ in order], [t for _, t in order]
