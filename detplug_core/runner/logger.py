"""Run logging: console (progress bar on a terminal, plain lines otherwise) and work-dir files.

Files written by rank 0 in the work dir (appended to when a run resumes):

* ``log.txt``: every log line, e.g.
  ``Epoch [1][50/7517]  lr: 1.000e-02, eta: 0:02:00, time: 0.240, data_time: 0.051,
  memory: 0, loss_cls: 0.1461, loss: 0.6188`` (iteration-based: ``Iter [50/400]  ...``);
* ``scalars.jsonl``: one JSON object per logged training step (mode, epoch, iter, lr, time,
  data_time, memory, each loss, loss, and any float a hook put in ``runner.message``);
* ``metrics.jsonl``: one JSON object per evaluation (mode, epoch, iter, ``<prefix>/<key>``);
* ``results.csv``: the same, one row per evaluation.

A resumed run first drops the records of iterations after its checkpoint from both JSON
files (they were written by the interrupted run and are written again), so the files read
as one history.

On a terminal (stdout is a TTY, or ``DETPLUG_PROGRESS=bar``) rank 0 shows a tqdm bar with
ETA and the training lines go to ``log.txt`` only; otherwise (``DETPLUG_PROGRESS=lines``, or
not a TTY) they are also printed to stdout. Other ranks print warnings only.
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from detplug_core.env import env_choice

_COUNTER = itertools.count()


def format_line(head: str, values: dict[str, Any]) -> str:
    """``head  key: value, ...`` with the classic number formats."""
    parts = []
    for key, value in values.items():
        if key == "lr":
            text = f"{value:.3e}"
        elif key == "eta":
            text = str(datetime.timedelta(seconds=int(value)))
        elif key in ("time", "data_time"):
            text = f"{value:.3f}"
        elif key == "memory":
            text = f"{int(value)}"
        elif isinstance(value, float):
            text = f"{value:.4f}"
        else:
            text = str(value)
        parts.append(f"{key}: {text}")
    return f"{head}  " + ", ".join(parts)


def _record_iter(line: str) -> float:
    """The ``iter`` of one JSON line (test records and unreadable lines: never dropped)."""
    try:
        record = json.loads(line)
    except ValueError:
        return float("-inf")
    if not isinstance(record, dict) or record.get("mode") == "test":
        return float("-inf")
    value = record.get("iter")
    return value if isinstance(value, int | float) else float("-inf")


class _ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "console", True)


class _TqdmHandler(logging.StreamHandler):
    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging must never break training
            self.handleError(record)


class _Waiting(logging.Handler):
    """Holds records until the run's log file may be written."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


_NO_BAR = _NoBar()


def _use_bar(rank: int) -> bool:
    mode = env_choice("DETPLUG_PROGRESS", ("bar", "lines"))
    if mode is not None:
        return mode == "bar" and rank == 0
    return rank == 0 and sys.stdout.isatty()


class RunLog:
    """The logger and files of one run (see module docstring)."""

    def __init__(self, work_dir: Path | None, rank: int = 0, world_size: int = 1) -> None:
        self.rank = rank
        self.work_dir = work_dir if rank == 0 else None
        self.bar_enabled = _use_bar(rank)
        self._bar: Any = None
        self.logger = logging.getLogger(f"detplug.run{next(_COUNTER)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
        prefix = f"[rank {rank}] " if world_size > 1 else ""
        console: logging.Handler = (
            _TqdmHandler(sys.stdout) if self.bar_enabled else logging.StreamHandler(sys.stdout)
        )
        console.setFormatter(logging.Formatter(prefix + "%(message)s"))
        console.addFilter(_ConsoleFilter())
        self.logger.addHandler(console)
        self._files: dict[str, TextIO] = {}
        # Until open_files() (train: once the work dir's lock is held), log.txt's lines wait
        # here: a run refused because another one holds the work dir discards them and
        # writes nothing there.
        self._waiting: _Waiting | None = None
        if self.work_dir is not None:
            self._waiting = _Waiting()
            self.logger.addHandler(self._waiting)

    def discard_waiting(self) -> None:
        """Drop the lines waiting for ``log.txt`` (the work dir is another run's)."""
        if self._waiting is not None:
            self.logger.removeHandler(self._waiting)
            self._waiting = None

    def open_files(self) -> None:
        """Start writing ``log.txt`` (with the lines logged so far); once per run."""
        waiting, self._waiting = self._waiting, None
        if waiting is None or self.work_dir is None:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(self.work_dir / "log.txt", encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
        for record in waiting.records:
            file_handler.handle(record)
        self.logger.removeHandler(waiting)
        self.logger.addHandler(file_handler)

    # -- progress bar --------------------------------------------------------------------
    def start_bar(self, total: int, initial: int, desc: str) -> None:
        if not self.bar_enabled:
            return
        from tqdm import tqdm

        self.close_bar()
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            dynamic_ncols=True,
            leave=False,
            file=sys.stdout,
        )

    def eval_bar(self, total: int, desc: str) -> Any:
        """A bar for one evaluation pass, below the training bar (``update``/``close``)."""
        if not self.bar_enabled:
            return _NO_BAR
        from tqdm import tqdm

        return tqdm(
            total=total,
            desc=desc,
            dynamic_ncols=True,
            leave=False,
            file=sys.stdout,
            position=1 if self._bar is not None else 0,
        )

    def bar_update(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def bar_postfix(self, values: dict[str, Any]) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(
                ", ".join(
                    f"{k}: {v:.4g}" for k, v in values.items() if k.startswith("loss") or k == "lr"
                ),
                refresh=False,
            )

    def close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # -- records -------------------------------------------------------------------------
    def train_record(self, head: str, values: dict[str, Any], record: dict[str, Any]) -> None:
        """Log one training line and append its JSON record."""
        self.logger.info(format_line(head, values), extra={"console": not self.bar_enabled})
        self.bar_postfix(values)
        self._append_json("scalars.jsonl", record)

    def eval_record(self, head: str, metrics: dict[str, float], record: dict[str, Any]) -> None:
        """Log one evaluation line; append to metrics.jsonl and rewrite results.csv."""
        self.logger.info(format_line(head, metrics) if metrics else f"{head}  (no metrics)")
        if self.work_dir is None or record.get("mode") == "test":
            return
        self._append_json("metrics.jsonl", record)
        self._write_results_csv()

    def _append_json(self, name: str, record: dict[str, Any]) -> None:
        if self.work_dir is None:
            return
        f = self._files.get(name)
        if f is None:
            f = self._files[name] = open(self.work_dir / name, "a", encoding="utf-8")
        f.write(json.dumps(record) + "\n")
        f.flush()

    def truncate_after(self, iteration: int) -> None:
        """Resuming at ``iteration``: drop the records of later iterations from
        ``scalars.jsonl`` and ``metrics.jsonl`` (the resumed run writes them again), so the
        files hold one history."""
        if self.work_dir is None:
            return
        for name in ("scalars.jsonl", "metrics.jsonl"):
            path = self.work_dir / name
            if not path.is_file():
                continue
            f = self._files.pop(name, None)
            if f is not None:
                f.close()
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if _record_iter(line) <= iteration]
            if len(kept) != len(lines):
                tmp = path.with_name(f".{name}.tmp")
                tmp.write_text("".join(kept), encoding="utf-8")
                os.replace(tmp, path)
        if (self.work_dir / "metrics.jsonl").is_file():
            self._write_results_csv()

    def _write_results_csv(self) -> None:
        assert self.work_dir is not None
        rows: dict[tuple, dict] = {}
        with open(self.work_dir / "metrics.jsonl", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    rows[(rec.get("mode"), rec.get("epoch"), rec.get("iter"))] = rec
        columns: list[str] = []
        for rec in rows.values():
            columns += [k for k in rec if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows.values())
        tmp = self.work_dir / ".results.csv.tmp"
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, self.work_dir / "results.csv")

    def close(self) -> None:
        self.open_files()  # a run that did not get to its loops still leaves its lines
        self.close_bar()
        for f in self._files.values():
            f.close()
        self._files.clear()
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
            handler.close()
