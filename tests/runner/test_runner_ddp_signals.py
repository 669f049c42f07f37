"""``detplug train --nproc 2`` under signals and a dying rank (gloo on CPU, toy plugin):
SIGTERM -> every rank stops, rank 0 saves, exit 143; Ctrl-C -> 130; a killed rank -> one
line naming it. Nothing is left running."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from detplug_core.runner.checkpoint import load_file

from .conftest import DETPLUG

pytestmark = pytest.mark.slow

LONG_DDP = """\
model: {type: ToyDetector}
train_dataloader:
  batch_size: 2
  dataset: {type: ToyShapes, num_images: 16}
optimizer: {type: SGD, lr: 0.01}
train: {by_epoch: true, max_epochs: 500, log_interval: 1}
checkpoint: {interval: 100}
seed: 0
"""


def _start(tmp_path: Path, toy_env) -> tuple[subprocess.Popen, Path]:
    cfg = tmp_path / "ddp.yaml"
    cfg.write_text(LONG_DDP)
    work = tmp_path / "work"
    proc = subprocess.Popen(
        [*DETPLUG, "-p", "runner_toy", "train", str(cfg), "--nproc", "2", "--work-dir", str(work)],
        cwd=tmp_path,
        env=toy_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (work / "scalars.jsonl").is_file() or len(_read(work)) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.2)
    return proc, work


def _read(work: Path) -> list[str]:
    try:
        return (work / "scalars.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return []


def _ranks(launcher_pid: int) -> list[int]:
    text = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text()
    return [int(p) for p in text.split()]


def _gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_the_launcher_stops_every_rank_after_a_save(tmp_path, toy_env, signum, code):
    proc, work = _start(tmp_path, toy_env)
    ranks = _ranks(proc.pid)
    assert len(ranks) == 2
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    (line,) = _error_lines(stderr)
    name = signal.Signals(signum).name
    assert line.startswith(f"error: [rank 0/2] interrupted by {name} at epoch "), stderr
    assert "continue with --resume auto" in line
    assert _gone(ranks)
    saved = load_file(work / "latest.pth")
    assert saved["meta"]["world_size"] == 2 and saved["iter"] >= 3


def test_a_killed_rank_is_named_in_one_line(tmp_path, toy_env):
    proc, _ = _start(tmp_path, toy_env)
    ranks = _ranks(proc.pid)
    os.kill(ranks[1], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    (line,) = _error_lines(stderr)
    assert line == (
        f"error: distributed training failed: rank 1 (pid {ranks[1]}) failed first "
        "(killed by SIGKILL); the other ranks were stopped"
    )
    assert _gone(ranks)
