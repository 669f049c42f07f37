"""CSVLoggerHook: training scalars and evaluation metrics in one CSV file."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from detplug_core import Hook, RunnerView
from detplug_hooks.checks import check_optional_int, check_str
from detplug_hooks.registries import HOOKS
from detplug_hooks.runner_access import is_main_process, numeric_items, work_path
from detplug_hooks.scalar_window import ScalarWindow

NAME = "CSVLoggerHook"
FIXED = ("mode", "epoch", "iter")


@HOOKS.register()
class CSVLoggerHook(Hook):
    """One row per training record (``mode=train``: lr, each loss, loss, hook scalars) and
    per evaluation (``mode=val``/``test``: the metrics), columns ``mode, epoch, iter, ...``.

    A column seen for the first time rewrites the file with the wider header. On resume the
    rows past the resumed iteration (written before a crash) are dropped, so the file reads
    as if the run had never stopped.

    Args:
        filename: relative to the work dir unless absolute.
        interval: iterations per training row; by default ``train.log_interval``.
    """

    priority = "VERY_LOW"  # after the hooks that add scalars in the same iteration

    def __init__(self, filename: str = "scalars.csv", interval: int | None = None) -> None:
        self.filename = check_str(NAME, "filename", filename)
        self.interval = check_optional_int(NAME, "interval", interval)
        self.window = ScalarWindow(self.interval)
        self.path: Path | None = None
        self.columns: list[str] = list(FIXED)
        self.rows: list[dict[str, Any]] = []

    def before_run(self, runner: RunnerView) -> None:
        if not is_main_process(runner):
            return
        self.path = work_path(runner, self.filename)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or FIXED)
                done = int(runner.iter)
                self.rows = [r for r in reader if r.get("iter") and int(r["iter"]) <= done]
        self._rewrite()

    def after_train_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any, outputs: dict):
        if self.path is None:
            return
        due = self.window.add(runner, outputs)
        if due is not None:
            iteration, scalars = due
            self._add({"mode": "train", "epoch": runner.epoch + 1, "iter": iteration, **scalars})

    def after_val_epoch(self, runner: RunnerView, metrics: dict) -> None:
        self._add_metrics("val", runner, metrics)

    def after_test_epoch(self, runner: RunnerView, metrics: dict) -> None:
        self._add_metrics("test", runner, metrics)

    def _add_metrics(self, mode: str, runner: RunnerView, metrics: dict) -> None:
        if self.path is not None:
            row = {"mode": mode, "epoch": runner.epoch, "iter": int(runner.iter)}
            self._add({**row, **numeric_items(metrics)})

    def _add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new:
            self.columns += new
            self._rewrite()
            return
        assert self.path is not None
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)

    def _rewrite(self) -> None:
        """Write header and every row to a temporary file, then rename it over the CSV."""
        assert self.path is not None
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns)
        writer.writeheader()
        writer.writerows(self.rows)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, self.path)
