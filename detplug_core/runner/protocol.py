"""What hooks may read and call on the runner: a typed view (docs/runner.md).

Hooks receive the running :class:`~detplug_core.Runner`; annotate them with
:class:`RunnerView` to get exactly the documented surface, checked by a type checker, without
``Any`` and without ``getattr`` guesses. The runner always has every attribute below (``None``
where a piece is not built, e.g. ``optimizer`` during ``detplug test``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from detplug_core.runner.evaluation import EvalResult
    from detplug_core.runner.progress import Progress
    from detplug_core.runner.settings import CheckpointSettings, RunSettings, TrainSettings


class RunnerView(Protocol):
    """The runner as hooks see it."""

    cfg: Mapping[str, Any]
    settings: RunSettings
    train_settings: TrainSettings  # set once training starts
    checkpoint_settings: CheckpointSettings  # set once training starts
    model: torch.nn.Module  # never DDP-wrapped
    wrapped_model: torch.nn.Module  # what training calls
    optimizer: torch.optim.Optimizer | None
    lr_schedule: Any
    schedulers: list
    work_dir: Path
    progress: Progress
    log_interval: int
    train_dataloader: Any
    val_dataloader: Any
    test_dataloader: Any
    metrics: list
    logger: logging.Logger
    rank: int
    world_size: int
    device: torch.device
    seed: int
    message: dict[str, Any]  # numbers here join the next log line, once
    metric_keys: set[str]
    stop_training: bool
    signal_received: int  # the signal every rank agreed on (0: none): training stops
    signal_pending: int  # this rank's own signal, not agreed yet (set by the handler)
    best: dict[str, Any] | None
    last_eval: EvalResult | None

    @property
    def epoch(self) -> int: ...  # completed epochs

    @property
    def iter(self) -> int: ...  # completed iterations

    @property
    def epoch_iter(self) -> int: ...  # batches consumed in the current epoch

    @property
    def max_epochs(self) -> int | None: ...

    @property
    def max_iters(self) -> int | None: ...

    @property
    def by_epoch(self) -> bool: ...

    def save_checkpoint(self, name: str, *, call_hooks: bool = True) -> Path | None: ...

    def agree_signals(self) -> int: ...  # every rank learns the signals any rank received
