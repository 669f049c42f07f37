"""TensorBoardHook: training and evaluation scalars as TensorBoard event files."""

from __future__ import annotations

from typing import Any

from detplug_core import Hook, RunnerView
from detplug_hooks.checks import check_int, check_optional_int, check_str
from detplug_hooks.registries import HOOKS
from detplug_hooks.runner_access import is_main_process, numeric_items, work_path
from detplug_hooks.scalar_window import ScalarWindow

NAME = "TensorBoardHook"


@HOOKS.register()
class TensorBoardHook(Hook):
    """Write scalars with ``torch.utils.tensorboard.SummaryWriter`` (rank 0 only).

    Tags: ``train/<name>`` for the losses, ``lr`` and hook scalars (``train/speed/iter_time``)
    every ``interval`` iterations; ``val/<metric>`` and ``test/<metric>`` per evaluation
    (``val/coco/mAP``). The step is the number of completed training iterations.

    Args:
        log_dir: event-file folder, relative to the work dir unless absolute.
        interval: iterations per training record; by default ``train.log_interval``.
        flush_secs: how often the writer flushes to disk.
    """

    priority = "VERY_LOW"  # after the hooks that add scalars in the same iteration

    def __init__(
        self, log_dir: str = "tensorboard", interval: int | None = None, flush_secs: int = 30
    ) -> None:
        self.log_dir = check_str(NAME, "log_dir", log_dir)
        self.interval = check_optional_int(NAME, "interval", interval)
        self.flush_secs = check_int(NAME, "flush_secs", flush_secs)
        self.window = ScalarWindow(self.interval)
        self.writer: Any = None

    def _writer(self, runner: RunnerView) -> Any:
        """The SummaryWriter, made on first use; None on ranks other than 0."""
        if self.writer is None and is_main_process(runner):
            from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only here

            path = work_path(runner, self.log_dir)
            path.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(log_dir=str(path), flush_secs=self.flush_secs)
        return self.writer

    def before_run(self, runner: RunnerView) -> None:
        self._writer(runner)

    def after_train_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any, outputs: dict):
        writer = self._writer(runner)
        if writer is None:
            return
        due = self.window.add(runner, outputs)
        if due is None:
            return
        step, scalars = due
        for key, value in scalars.items():
            writer.add_scalar(f"train/{key}", value, step)

    def after_val_epoch(self, runner: RunnerView, metrics: dict) -> None:
        self._write_metrics("val", runner, metrics)

    def after_test_epoch(self, runner: RunnerView, metrics: dict) -> None:
        self._write_metrics("test", runner, metrics)

    def _write_metrics(self, mode: str, runner: RunnerView, metrics: dict) -> None:
        writer = self._writer(runner)
        if writer is None:
            return
        for key, value in numeric_items(metrics).items():
            writer.add_scalar(f"{mode}/{key}", value, int(runner.iter))
        writer.flush()

    def after_run(self, runner: RunnerView) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
