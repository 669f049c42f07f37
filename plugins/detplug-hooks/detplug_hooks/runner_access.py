"""The few things the hooks read from a Runner, in one place.

Every hook goes through these helpers instead of reaching into runner internals, so the
contract with the core is visible at a glance (docs/runner.md describes the attributes).
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

from torch import nn

from detplug_core import RunnerView


def is_main_process(runner: RunnerView) -> bool:
    """Only rank 0 writes files."""
    return runner.rank == 0


def bare_model(runner: RunnerView) -> nn.Module:
    """The model without its DistributedDataParallel wrapper."""
    model = runner.model
    return getattr(model, "module", model)


def work_path(runner: RunnerView, path: str) -> Path:
    """``path`` itself when absolute, else relative to the run's work dir."""
    p = Path(path)
    return p if p.is_absolute() else Path(runner.work_dir) / p


def iteration_done(runner: RunnerView) -> int:
    """Inside ``after_train_iter``: the 1-based number of the iteration that just ended
    (``runner.iter`` already counts it)."""
    return int(runner.iter)


def learning_rate(runner: RunnerView) -> float | None:
    """The lr of the optimizer's first parameter group (what the runner's log line shows)."""
    optimizer = runner.optimizer
    if optimizer is None or not optimizer.param_groups:
        return None
    return float(optimizer.param_groups[0]["lr"])


def log_interval(runner: RunnerView) -> int:
    """The run's ``train.log_interval``."""
    return int(runner.log_interval)


def numeric_items(values: Any) -> dict[str, float]:
    """The entries of a mapping that are real numbers (tensors with one element included)."""
    out: dict[str, float] = {}
    for key, value in (values or {}).items():
        if hasattr(value, "numel") and value.numel() == 1:
            value = value.item()
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            out[str(key)] = float(value)
    return out


def add_scalars(runner: RunnerView, scalars: dict[str, float]) -> None:
    """Add scalars to the runner's next log record (console, scalars.jsonl and the logger
    hooks read them from ``runner.message``)."""
    runner.message.update(scalars)
