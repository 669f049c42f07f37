"""SpeedMonitorHook: iteration time, data time, images/s and peak memory as scalars."""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import torch

from detplug_core import Hook, RunnerView
from detplug_hooks.checks import check_int
from detplug_hooks.registries import HOOKS
from detplug_hooks.runner_access import add_scalars, log_interval

NAME = "SpeedMonitorHook"


def peak_memory_mb(device: torch.device | None) -> float:
    """Peak memory since the last reset: CUDA allocated on a GPU, else the process's peak
    resident set size (which never resets)."""
    if device is not None and device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        torch.cuda.reset_peak_memory_stats(device)
        return peak
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


@HOOKS.register()
class SpeedMonitorHook(Hook):
    """Every ``interval`` training iterations, add to the logged scalars the means over that
    window of ``speed/iter_time`` (s), ``speed/data_time`` (s, waiting for the batch),
    ``speed/images_per_sec`` (all ranks) and ``speed/peak_memory_mb``.

    Args:
        interval: window in iterations; by default the run's ``train.log_interval``.
    """

    priority = "HIGH"

    def __init__(self, interval: int | None = None) -> None:
        self.interval = None if interval is None else check_int(NAME, "interval", interval)
        self._window = 0
        self._iter_time = 0.0
        self._data_time = 0.0
        self._images = 0
        self._last_end: float | None = None
        self._iter_start = 0.0

    def before_train_epoch(self, runner: RunnerView) -> None:
        self._last_end = time.perf_counter()  # data time of an epoch's first batch included

    def after_val(self, runner: RunnerView) -> None:
        self._last_end = time.perf_counter()  # validation time is not iteration time

    def before_train_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any) -> None:
        now = time.perf_counter()
        if self._last_end is None:
            self._last_end = now
        self._data_time += now - self._last_end
        self._iter_start = self._last_end

    def after_train_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any, outputs: dict):
        now = time.perf_counter()
        self._iter_time += now - self._iter_start
        self._last_end = now
        self._images += len(data_batch[0]) * runner.world_size
        self._window += 1
        interval = self.interval or log_interval(runner)
        if self._window < interval:
            return
        device = runner.device
        add_scalars(
            runner,
            {
                "speed/iter_time": self._iter_time / self._window,
                "speed/data_time": self._data_time / self._window,
                "speed/images_per_sec": self._images / max(self._iter_time, 1e-12),
                "speed/peak_memory_mb": peak_memory_mb(torch.device(device) if device else None),
            },
        )
        self._window, self._iter_time, self._data_time, self._images = 0, 0.0, 0.0, 0
