"""The training scalars of one log step, as the runner's log line shows them.

The logger hooks (TensorBoard, CSV) write one record per ``interval`` training iterations:
the mean of every loss over those iterations (one device sync per record), the lr, and the
namespaced scalars (``speed/iter_time`` ...) that hooks of higher priority put into
``runner.message`` during the same iteration. With ``interval`` equal to the run's
``train.log_interval`` (the default) the steps and loss means are the runner's own.
"""

from __future__ import annotations

from typing import Any

import torch

from detplug_core import RunnerView
from detplug_hooks.runner_access import iteration_done, learning_rate, log_interval, numeric_items


class ScalarWindow:
    """Collects ``after_train_iter`` outputs; :meth:`add` returns a record when one is due."""

    def __init__(self, interval: int | None = None) -> None:
        self.interval = interval
        self._outputs: list[dict[str, Any]] = []

    def add(self, runner: RunnerView, outputs: dict) -> tuple[int, dict[str, float]] | None:
        """Record one iteration's outputs; at a log step return ``(iteration, scalars)``,
        ``iteration`` counting completed training iterations (1-based)."""
        self._outputs.append(outputs)
        iteration = iteration_done(runner)
        if iteration % (self.interval or log_interval(runner)):
            return None
        scalars = self._loss_means()
        lr = learning_rate(runner)
        if lr is not None:
            scalars = {"lr": lr, **scalars}
        scalars.update(hook_scalars(runner))
        self._outputs.clear()
        return iteration, scalars

    def _loss_means(self) -> dict[str, float]:
        keys: list[str] = []
        for out in self._outputs:
            keys += [k for k in out if k not in keys]
        means = []
        for key in keys:
            values = [
                torch.as_tensor(o[key]).detach().float().reshape(())
                for o in self._outputs
                if key in o
            ]
            means.append(torch.stack(values).mean())
        scalars = dict(zip(keys, torch.stack(means).tolist(), strict=True)) if means else {}
        if "loss" in scalars:  # the total after its terms, as in the runner's line
            scalars["loss"] = scalars.pop("loss")
        return scalars


def hook_scalars(runner: RunnerView) -> dict[str, float]:
    """Numeric ``runner.message`` entries with a ``namespace/`` (put there by hooks), except
    evaluation metrics (also kept in ``runner.message``)."""
    metric_keys = runner.evaluator.metric_keys
    message = numeric_items(runner.message)
    return {k: v for k, v in message.items() if "/" in k and k not in metric_keys}
