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
                             before_train: a validation a signal interrupted or
                             prevented
CheckpointHook     100       after ValidationHook: interval checkpoints, best file,
                             the last checkpoint (after_train)
=================  ========  ======================================================

ValidationHook runs evaluations through ``runner.evaluator``; CheckpointHook decides when
to write and asks ``runner.checkpointer`` to (which calls ``before_save_checkpoint``). At a
boundary where both act, the checkpoint must follow the validation (it records the new
best metric and the validation as done), so CheckpointHook must run after ValidationHook:
:func:`check_hook_order` refuses a ``hooks:`` list that would order them otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from detplug_core import dist
from detplug_core.errors import ConfigError
from detplug_core.runner.hook import Hook
from detplug_core.runner.message import MessageError
from detplug_core.runner.results import EvalResult

if TYPE_CHECKING:
    from detplug_core.runner.hook_dispatch import ConfigHook
    from detplug_core.runner.protocol import RunnerView as Runner


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
        message, metric_keys = runner.message, runner.evaluator.metric_keys
        for key, value in message.items():
            if key in metric_keys:
                continue
            if key in values:  # the reserved names cannot be written: one of the losses'
                raise MessageError(
                    f"runner.message[{key!r}]: a hook used the name of one of the model's "
                    f"losses; use your own name, e.g. 'myhook/{key}'"
                )
            values[key] = float(value)  # numbers and one-element tensors (runner/message.py)
        message.publish(values)
        self._logged = {k: message[k] for k in values}
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
    validation that a signal cut short, or that was due in the iteration a signal ended,
    stays due: its state says so, and a resumed run runs it first (``before_train``)."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.pending = False

    def before_train(self, runner: Runner) -> None:
        if self.pending:
            self.validate(runner)

    def after_train_iter(self, runner: Runner) -> None:
        if runner.by_epoch or runner.stop_training:
            return
        if _due(runner.iter, runner.train_settings.val_interval, runner.max_iters):
            self._when_no_signal(runner)

    def after_train_epoch(self, runner: Runner) -> None:
        if runner.by_epoch and _due(
            runner.epoch, runner.train_settings.val_interval, runner.max_epochs
        ):
            self._when_no_signal(runner)

    def _when_no_signal(self, runner: Runner) -> None:
        if runner.signals.received:  # the run stops here: the resumed run validates first
            self.pending = runner.val_data is not None
        else:
            self.validate(runner)

    def validate(self, runner: Runner) -> EvalResult | None:
        built = runner.val_data
        if built is None:
            return None
        self.pending = True
        result = runner.evaluator.run(built, runner.metrics, runner.metric_prefixes, "val")
        if result is None:  # a signal: the interrupt checkpoint keeps it pending
            return None
        self.pending = False
        return result

    def state_dict(self) -> dict:
        return {"pending": self.pending}

    def load_state_dict(self, state: dict) -> None:
        self.pending = bool(state.get("pending", False))


class CheckpointHook(Hook):
    """When to write checkpoints: every ``checkpoint.interval``, ``best_<metric>.pth``
    after a validation that improved the monitored metric, and the last one at the end.
    Writing (and ``before_save_checkpoint``) is ``runner.checkpointer``'s."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self._seen: EvalResult | None = None

    def before_train(self, runner: Runner) -> None:
        self._boundary(runner, due=False)  # a validation run at once after a resume

    def after_train_iter(self, runner: Runner) -> None:
        ck = runner.checkpointer.settings
        if not runner.signals.received:
            due = not ck.by_epoch and bool(ck.interval) and runner.iter % ck.interval == 0
            self._boundary(runner, due)

    def after_train_epoch(self, runner: Runner) -> None:
        ck = runner.checkpointer.settings
        if not runner.signals.received:
            due = ck.by_epoch and bool(ck.interval) and runner.epoch % ck.interval == 0
            self._boundary(runner, due)

    def after_train(self, runner: Runner) -> None:
        checkpointer = runner.checkpointer
        if checkpointer.settings.save_last and checkpointer.last_saved_iter != runner.iter:
            checkpointer.save(self.name(runner))

    @staticmethod
    def name(runner: Runner) -> str:
        if runner.checkpointer.settings.by_epoch and runner.epoch_iter == 0:
            return f"epoch_{runner.epoch}.pth"
        return f"iter_{runner.iter}.pth"

    def _boundary(self, runner: Runner, due: bool) -> None:
        checkpointer, improved = runner.checkpointer, False
        result = runner.evaluator.last_eval
        if result is not None and result is not self._seen and result.mode == "val":
            self._seen = result
            improved = checkpointer.track_best(result)
        if due:
            checkpointer.save(self.name(runner), best=improved)
        elif improved:
            checkpointer.save_best()


BUILTIN_HOOKS: tuple[type[Hook], ...] = (
    LRSchedulerHook,
    LoggerHook,
    ValidationHook,
    CheckpointHook,
)


def check_hook_order(entries: list[ConfigHook]) -> None:
    """CheckpointHook must run after ValidationHook (module docstring): ``entries`` in
    calling order; a ConfigError naming both places otherwise."""
    places = {}
    for entry in entries:
        for cls in (ValidationHook, CheckpointHook):
            if isinstance(entry.hook, cls):
                places[cls] = entry
    validation, checkpoint = places.get(ValidationHook), places.get(CheckpointHook)
    if validation is None or checkpoint is None:
        return
    if entries.index(checkpoint) < entries.index(validation):
        raise ConfigError(
            f"hooks: {type(checkpoint.hook).__name__} ({checkpoint.where}, priority "
            f"{checkpoint.priority}) would run before {type(validation.hook).__name__} "
            f"({validation.where}, priority {validation.priority}); a checkpoint must follow "
            "the validation of its iteration: give the checkpoint hook a priority after the "
            "validation hook's"
        )
