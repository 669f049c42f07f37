"""What hooks may read and call on the runner: typed views (docs/runner.md).

Hooks receive the running :class:`~detplug_core.Runner`; annotate them with
:class:`RunnerView` to get exactly the documented surface, checked by a type checker, without
``Any`` and without ``getattr`` guesses. The runner always has every attribute below;
``None`` marks a piece that is not built (yet): ``optimizer``, ``lr_schedule``,
``train_step`` and ``train_settings`` exist from the start of :meth:`Runner.train` (they are
``None`` in ``before_run`` of ``detplug test``), the dataloaders once their loop first runs.

Checkpoints and evaluations have their own objects, :class:`Checkpointing`
(``runner.checkpointer``) and :class:`Evaluation` (``runner.evaluator``), which own their
state (``best``, ``last_eval``, ...). The annotations resolve at run time
(``typing.get_type_hints(RunnerView)``); this module imports torch, but neither the runner
nor anything that imports the hook specifications.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

from detplug_core.runner.dist_signals import RunSignals
from detplug_core.runner.logger import RunLog
from detplug_core.runner.message import Message
from detplug_core.runner.progress import Progress
from detplug_core.runner.results import EvalResult
from detplug_core.runner.settings import CheckpointSettings, RunSettings, TrainSettings
from detplug_core.runner.step import TrainStep

T = TypeVar("T")


class Evaluation(Protocol):
    """``runner.evaluator``: runs evaluation passes and remembers the last one."""

    last_eval: EvalResult | None  # the last finished evaluation (val or test)
    last_metrics: dict[str, float]  # the metrics of the last validation
    metric_keys: set[str]  # every metric key logged so far (they are not training scalars)

    @property
    def in_pass(self) -> bool: ...  # a pass's model outputs are being produced

    def run(self, data: Any, metrics: list, prefixes: list[str], mode: str) -> EvalResult | None:
        """One pass over ``data`` (a built dataloader) and its record; None when a signal
        cut it short."""
        ...

    def enter_context(self, cm: AbstractContextManager[T]) -> T:
        """From ``before_{val,test}_epoch``: enter ``cm`` for the current pass; it is exited
        when the pass's model outputs are in, however the pass ends (finished, stopped by a
        signal, failed). EMAHook swaps its average in this way."""
        ...


class Checkpointing(Protocol):
    """``runner.checkpointer``: what a checkpoint holds, writing, resuming, ``load_from``."""

    settings: CheckpointSettings | None  # the ``checkpoint:`` section, once training starts
    best: dict[str, Any] | None  # {metric, value, epoch, iter} of the best validation
    last_saved_iter: int | None

    def state(self) -> dict[str, Any]:
        """The checkpoint dict of the current position."""
        ...

    def save(self, name: str, *, call_hooks: bool = True, best: bool = False) -> Path | None:
        """Write ``work_dir/name`` (``before_save_checkpoint`` first) and point
        ``latest.pth`` at it; ``best``: ``best_<metric>.pth`` too. Rank 0 returns the path."""
        ...

    def save_best(self) -> Path | None:
        """Write ``best_<metric>.pth`` alone (``before_save_checkpoint`` first)."""
        ...

    def track_best(self, result: EvalResult) -> bool:
        """Whether ``result`` improved the monitored metric (``checkpoint.save_best``);
        remembers it as ``best`` when it did."""
        ...


class RunnerView(Protocol):
    """The runner as hooks see it."""

    cfg: Mapping[str, Any]
    settings: RunSettings
    train_settings: TrainSettings | None  # set when train() starts
    model: torch.nn.Module  # never DDP-wrapped
    wrapped_model: torch.nn.Module  # what training calls
    optimizer: torch.optim.Optimizer | None  # built by train(); None in val()/test()
    lr_schedule: Any  # LRSchedule (runner/schedulers.py), built by train(); else None
    schedulers: list
    train_step: TrainStep | None  # built by train(): forward, backward, step (grad_norm)
    autocast: Callable[[], AbstractContextManager[Any]]  # the forward's autocast context
    work_dir: Path
    progress: Progress
    log_interval: int
    train_data: Any  # BuiltLoader of train_dataloader (its dataset, sampler)
    val_data: Any  # BuiltLoader of val_dataloader, when validating
    train_dataloader: Any
    val_dataloader: Any
    test_dataloader: Any
    metrics: list  # the val metrics
    metric_prefixes: list[str]  # their log prefixes (coco, voc)
    logger: logging.Logger
    log: RunLog  # the run's log files and progress bars
    rank: int
    world_size: int
    device: torch.device
    seed: int
    message: Message  # numbers here join the next log line, once (runner/message.py)
    stop_training: bool
    signals: RunSignals  # .received: agreed by every rank (0: none); .pending: this rank's
    evaluator: Evaluation
    checkpointer: Checkpointing

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

    def save_checkpoint(self, name: str) -> Path | None: ...  # runner.checkpointer.save(name)

    def val(self) -> dict[str, float]: ...

    def test(self) -> dict[str, float]: ...
