"""Config hooks of the toy plugin."""

from __future__ import annotations

from detplug_core import Hook
from detplug_runner_toy.registries import HOOKS


@HOOKS.register()
class ToyCounterHook(Hook):
    """Counts training iterations; the count survives a resume through its state_dict."""

    priority = "LOW"

    def __init__(self) -> None:
        self.count = 0

    def after_train_iter(self, runner) -> None:
        self.count += 1
        runner.message["toy_count"] = float(self.count)

    def after_train(self, runner) -> None:
        runner.logger.info("toy counter: %d", self.count)

    def state_dict(self) -> dict:
        return {"count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = state["count"]


@HOOKS.register()
class ToyFailingHook(Hook):
    """Raises in ``after_train_iter`` once ``at_iter`` iterations are complete."""

    def __init__(self, at_iter: int = 2) -> None:
        self.at_iter = at_iter

    def after_train_iter(self, runner) -> None:
        if runner.iter == self.at_iter:
            raise ValueError("the toy hook failed on purpose")
