"""The runner's built-in hooks: LR scheduling, logging, validation and checkpointing.

They are ordinary :class:`Hook` objects on the same priority scale as config hooks; ties
run built-in hooks first. A config ``hooks:`` entry of one of these types (or a subclass)
replaces the built-in one, at the entry's priority.

=================  ========  ======================================================
hook               priority  stages
=================  ========  ======================================================
LRSchedulerHook    0         before_train_iter: set this iteration's lr
LoggerHook         90        progress bar; every ``log_interval`` iterations the log
                             line and a scalars.jsonl record (after_train_iter)
ValidationHook     100       after_train_iter / after_train_epoch when due;
                             before_train: a validation a signal interrupted
CheckpointHook     100       after ValidationHook: interval checkpoints, best file,
                             the last checkpoint (after_train)
=================  ========  ======================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from detplug_core.runner import dist
from detplug_core.runner.evaluation import EvalResult, evaluate
from detplug_core.runner.hook import Hook

if TYPE_CHECKING:
    from detplug_core.runner.runner import Runner


class LRSchedulerHook(Hook):
    """Sets the learning rate of every iteration from the parameter schedulers."""

    priority = "HIGHEST"

    def before_train_iter(self, runner: Runner) -> None:
        runner.lr_schedule.apply(runner.iter, runner.epoch)


class IterMeter:
    """Losses, grad norms and timings since the last log line; summarised (as means over
    the interval) with one device sync."""

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


class LoggerHook(Hook):
    """The progress bar and, every ``train.log_interval`` iterations, the classic log line
    and a ``scalars.jsonl`` record: lr, eta, time, data_time, memory, the mean of each loss
    (and ``grad_norm``) over the interval, and the numbers hooks put into
    ``runner.message`` since the previous line (each logged once)."""

    priority = "VERY_LOW"

    def __init__(self) -> None:
        self.meter = IterMeter()
        self._logged: dict[str, Any] = {}

    def before_train_epoch(self, runner: Runner) -> None:
        if runner.by_epoch:
            total, done = len(runner.train_dataloader), runner.epoch_iter
            runner.log.start_bar(total, done, f"epoch {runner.epoch + 1}/{runner.max_epochs}")
        else:
            runner.log.start_bar(runner.max_iters, runner.iter, "train")

    def before_train_iter(self, runner: Runner) -> None:
        if self._logged:  # values of the previous line: logged once, then gone
            message = runner.message
            for key, value in self._logged.items():
                if message.get(key) is value:
                    del message[key]
            self._logged = {}

    def after_train_iter(self, runner: Runner, outputs: dict) -> None:
        p = runner.progress
        self.meter.add(outputs, p.iter_time, p.data_time, runner.train_step.grad_norm)
        runner.log.bar_update()
        if p.iter % runner.log_interval == 0:
            self.log(runner)

    def after_train_epoch(self, runner: Runner) -> None:
        runner.log.close_bar()

    def log(self, runner: Runner) -> None:
        p = runner.progress
        iter_time, data_time = self.meter.mean_time()
        losses = self.meter.summary()
        memory = 0
        if runner.device.type == "cuda":
            memory = torch.cuda.max_memory_allocated(runner.device) // 2**20
        values: dict[str, Any] = {
            "lr": runner.optimizer.param_groups[0]["lr"],
            "eta": iter_time * max(p.max_iters - p.iter, 0),
            "time": iter_time,
            "data_time": data_time,
            "memory": memory,
            **losses,
        }
        extras = {
            k: v
            for k, v in runner.message.items()
            if k not in values and k not in runner.metric_keys and isinstance(v, int | float)
        }
        values.update(extras)
        runner.message.update(values)
        self._logged = {k: runner.message[k] for k in values}
        if p.by_epoch:
            head = f"Epoch [{p.epoch + 1}][{p.epoch_iter}/{len(runner.train_dataloader)}]"
        else:
            head = f"Iter [{p.iter}/{p.max_iters}]"
        record = {
            "mode": "train",
            "epoch": p.epoch + 1,
            "iter": p.iter,
            **{k: v for k, v in values.items() if k != "eta"},
        }
        runner.log.train_record(head, values, record)


def _due(count: int, interval: int | None, end: int | None) -> bool:
    return bool(interval) and (count % interval == 0 or count == end)


class ValidationHook(Hook):
    """Validates every ``train.val_interval`` epochs or iterations (and at the end). A
    validation cut short by a signal stays due: its state says so, and a resumed run runs
    it first (``before_train``)."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.pending = False

    def before_train(self, runner: Runner) -> None:
        if self.pending:
            self.validate(runner)

    def after_train_iter(self, runner: Runner) -> None:
        if runner.by_epoch or runner.stop_training or runner.signal_received:
            return
        if _due(runner.iter, runner.train_settings.val_interval, runner.max_iters):
            self.validate(runner)

    def after_train_epoch(self, runner: Runner) -> None:
        if not runner.by_epoch or runner.signal_received:
            return
        if _due(runner.epoch, runner.train_settings.val_interval, runner.max_epochs):
            self.validate(runner)

    def validate(self, runner: Runner) -> EvalResult | None:
        built = runner.val_data
        if built is None:
            return None
        self.pending = True
        result = evaluate(runner, built, runner.metrics, runner.metric_prefixes, "val")
        if result is None:  # a signal: the interrupt checkpoint keeps it pending
            return None
        self.pending = False
        return result

    def state_dict(self) -> dict:
        return {"pending": self.pending}

    def load_state_dict(self, state: dict) -> None:
        self.pending = bool(state.get("pending", False))


class CheckpointHook(Hook):
    """Interval checkpoints (``checkpoint:`` section), ``best_<metric>.pth`` after a
    validation that improved the monitored metric, and the last checkpoint at the end."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self._seen: EvalResult | None = None

    def before_train(self, runner: Runner) -> None:
        self._boundary(runner, due=False)  # a validation run at once after a resume

    def after_train_iter(self, runner: Runner) -> None:
        ck = runner.checkpoint_settings
        if not runner.signal_received:
            due = not ck.by_epoch and bool(ck.interval) and runner.iter % ck.interval == 0
            self._boundary(runner, due)

    def after_train_epoch(self, runner: Runner) -> None:
        ck = runner.checkpoint_settings
        if not runner.signal_received:
            due = ck.by_epoch and bool(ck.interval) and runner.epoch % ck.interval == 0
            self._boundary(runner, due)

    def after_train(self, runner: Runner) -> None:
        if runner.checkpoint_settings.save_last and runner.last_saved_iter != runner.iter:
            runner.save_checkpoint(self.name(runner))

    @staticmethod
    def name(runner: Runner) -> str:
        if runner.checkpoint_settings.by_epoch and runner.epoch_iter == 0:
            return f"epoch_{runner.epoch}.pth"
        return f"iter_{runner.iter}.pth"

    def _boundary(self, runner: Runner, due: bool) -> None:
        improved = False
        result = runner.last_eval
        if result is not None and result is not self._seen and result.mode == "val":
            self._seen = result
            improved = self._track_best(runner, result)
        if due:
            path = runner.save_checkpoint(self.name(runner))
            if improved and path is not None:
                runner.checkpoint_files.link_best(path, runner.best["metric"])
        elif improved:
            state = runner.checkpoint_state()
            runner.hooks.call("before_save_checkpoint", runner=runner, checkpoint=state)
            if runner.rank == 0:
                path = runner.checkpoint_files.save_best(state, runner.best["metric"])
                runner.logger.info("saved best checkpoint %s", path)

    @staticmethod
    def _track_best(runner: Runner, result: EvalResult) -> bool:
        settings, metrics = runner.checkpoint_settings, result.metrics
        key = settings.save_best
        if not key or not metrics:
            return False
        if key == "auto":
            key = next(iter(metrics))
        if key not in metrics:
            runner.logger.warning(
                "checkpoint.save_best: metric '%s' not among %s", key, ", ".join(metrics)
            )
            return False
        best = runner.best["value"] if runner.best else None
        if not settings.is_better(key, metrics[key], best):
            return False
        runner.best = {"metric": key, "value": metrics[key], "epoch": result.epoch}
        runner.best["iter"] = result.iter
        runner.logger.info("new best %s: %.4f", key, metrics[key])
        return True


BUILTIN_HOOKS: tuple[type[Hook], ...] = (
    LRSchedulerHook,
    LoggerHook,
    ValidationHook,
    CheckpointHook,
)
