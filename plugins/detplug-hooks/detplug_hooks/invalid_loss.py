"""CheckInvalidLossHook: stop with a clear message when a loss becomes NaN or Inf."""

from __future__ import annotations

import math
from typing import Any

import torch

from detplug_core import Hook, RunnerView
from detplug_core.errors import DetplugError
from detplug_hooks.checks import check_bool, check_int
from detplug_hooks.registries import HOOKS
from detplug_hooks.runner_access import iteration_done, numeric_items

NAME = "CheckInvalidLossHook"


class InvalidLossError(DetplugError):
    """A training loss became NaN or infinite."""


@HOOKS.register()
class CheckInvalidLossHook(Hook):
    """Check the losses after every ``interval`` iterations; on NaN/Inf save a checkpoint
    named ``invalid_loss_iter_<N>`` (when ``save_checkpoint``) and raise
    :class:`InvalidLossError` naming the iteration and the loss term.

    Args:
        interval: check every ``interval`` iterations (1 checks all).
        save_checkpoint: write the checkpoint before stopping, to inspect the weights.
    """

    priority = "VERY_HIGH"

    def __init__(self, interval: int = 1, save_checkpoint: bool = True) -> None:
        self.interval = check_int(NAME, "interval", interval)
        self.save_checkpoint = check_bool(NAME, "save_checkpoint", save_checkpoint)

    @staticmethod
    def all_finite(outputs: dict) -> bool:
        """Whether every loss is finite, with a single device sync."""
        values = [
            torch.as_tensor(v).detach().float().reshape(())
            for v in outputs.values()
            if isinstance(v, torch.Tensor | float | int) and not isinstance(v, bool)
        ]
        if not values:
            return True
        if len({v.device for v in values}) > 1:
            values = [v.cpu() for v in values]
        return bool(torch.isfinite(torch.stack(values)).all())

    @staticmethod
    def invalid_terms(outputs: dict) -> list[tuple[str, float]]:
        """The (name, value) pairs of ``outputs`` that are not finite, the terms before the
        total ``loss`` (the total is bad whenever a term is)."""
        bad = [(k, v) for k, v in numeric_items(outputs).items() if not math.isfinite(v)]
        return sorted(bad, key=lambda kv: kv[0] == "loss")

    def after_train_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any, outputs: dict):
        iteration = iteration_done(runner)
        if iteration % self.interval or self.all_finite(outputs):
            return
        bad = self.invalid_terms(outputs)
        terms = ", ".join(f"{k} = {v}" for k, v in bad)
        where = f"iteration {iteration} (epoch {runner.epoch + 1})"
        saved = ""
        if self.save_checkpoint:
            path = runner.save_checkpoint(f"invalid_loss_iter_{iteration}.pth")
            saved = f"; checkpoint saved to {path}"
        raise InvalidLossError(
            f"{NAME}: invalid loss at {where}: {terms}{saved}. Lower the learning rate, "
            "enable clip_grad or a warm-up, or check the data of this iteration"
        )
