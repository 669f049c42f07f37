"""EarlyStoppingHook: stop training when a validation metric stops improving."""

from __future__ import annotations

import math

from detplug_core import Hook, RunnerView
from detplug_core.errors import DetplugError
from detplug_hooks.checks import check_bool, check_choice, check_float, check_int, check_str
from detplug_hooks.registries import HOOKS

NAME = "EarlyStoppingHook"
RULES = ("greater", "less")


class MonitorNotFoundError(DetplugError):
    """The monitored key is not among the metrics of an evaluation."""


@HOOKS.register()
class EarlyStoppingHook(Hook):
    """Set ``runner.stop_training`` after ``patience`` evaluations without improvement.

    Args:
        monitor: metric key as logged, e.g. ``coco/mAP`` or ``voc/mAP``.
        rule: ``greater`` (higher is better) or ``less``; by default ``less`` when the key
            contains ``loss``, else ``greater``.
        patience: evaluations without improvement before stopping (>= 1).
        min_delta: an improvement must beat the best value by more than this (>= 0).
        strict: a missing ``monitor`` key is an error (listing the keys there are); when
            false it is skipped with a warning.

    A NaN value never counts as an improvement. The best value, its iteration and the
    count of evaluations without improvement are saved in checkpoints.
    """

    priority = "LOW"

    def __init__(
        self,
        monitor: str,
        rule: str | None = None,
        patience: int = 5,
        min_delta: float = 0.0,
        strict: bool = True,
    ) -> None:
        self.monitor = check_str(NAME, "monitor", monitor)
        if rule is None:
            rule = "less" if "loss" in monitor.lower() else "greater"
        self.rule = check_choice(NAME, "rule", rule, RULES)
        self.patience = check_int(NAME, "patience", patience)
        self.min_delta = check_float(NAME, "min_delta", min_delta, low=0)
        self.strict = check_bool(NAME, "strict", strict)
        self.best: float | None = None
        self.best_iter: int | None = None
        self.wait = 0
        self.stopped = False

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.rule == "greater":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def after_val_epoch(self, runner: RunnerView, metrics: dict) -> None:
        if self.monitor not in metrics:
            known = ", ".join(sorted(metrics)) or "(none)"
            msg = f"{NAME}: monitored key '{self.monitor}' is not in the metrics: {known}"
            if self.strict:
                raise MonitorNotFoundError(msg)
            runner.logger.warning(msg)
            return
        value = float(metrics[self.monitor])
        if self.improved(value):
            self.best, self.best_iter, self.wait = value, int(runner.iter), 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped = True
            runner.stop_training = True
            runner.logger.info(
                f"{NAME}: stopping, {self.monitor} has not improved by more than "
                f"{self.min_delta:g} for {self.patience} evaluation(s) "
                f"(best {self.best:.4f} at iteration {self.best_iter}, now {value:.4f})"
            )

    def state_dict(self) -> dict:
        return {"best": self.best, "best_iter": self.best_iter, "wait": self.wait}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get("best")
        self.best_iter = state.get("best_iter")
        self.wait = int(state.get("wait", 0))
