"""``detplug train`` / ``detplug test`` end to end, and exact resume after kills."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from detplug_core.runner.checkpoint import load_file

pytestmark = pytest.mark.slow


def _assert_same_state(a: Path, b: Path) -> None:
    ref, got = load_file(a), load_file(b)
    assert (ref["epoch"], ref["iter"], ref["epoch_iter"]) == (
        got["epoch"],
        got["iter"],
        got["epoch_iter"],
    )
    for key, value in ref["model"].items():
        assert torch.equal(value, got["model"][key]), f"model.{key} differs"
    for index, state in ref["optimizer"]["state"].items():
        assert torch.equal(
            state["momentum_buffer"], got["optimizer"]["state"][index]["momentum_buffer"]
        )
    assert ref["hooks"] == got["hooks"]


def test_train_then_test_through_the_cli(reference_run, detplug, tmp_path):
    work = reference_run
    assert sorted(p.name for p in work.glob("*.pth")) == [
        "best_toy_recall.pth",
        "iter_10.pth",
        "iter_12.pth",
        "latest.pth",
    ]
    records = [json.loads(x) for x in (work / "scalars.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [3, 6, 9, 12]
    assert "Iter [12/12]  lr: " in (work / "log.txt").read_text()
    assert (work / "config.yaml").is_file() and (work / "results.csv").is_file()
    out = tmp_path / "metrics.json"
    res = detplug(
        "test", str(work / "latest.pth"), "val_dataloader.batch_size=2", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr
    assert "Test results" in res.stdout and "toy/recall" in res.stdout
    assert "Per class (toy):" in res.stdout and "class  gts  recall" in res.stdout
    written = json.loads(out.read_text())
    last_val = json.loads((work / "metrics.jsonl").read_text().splitlines()[-1])
    assert written["metrics"]["toy/recall"] == pytest.approx(last_val["toy/recall"])
    assert [row["class"] for row in written["per_class"]["toy"]] == ["red", "green"]


def test_truncated_checkpoint_is_one_clear_error_exit_2(reference_run, detplug, tmp_path):
    data = (reference_run / "latest.pth").read_bytes()
    bad = tmp_path / "cut.pth"
    bad.write_bytes(data[: len(data) // 3])
    res = detplug("test", str(bad))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: checkpoint ")
    assert "is truncated or corrupt" in lines[0] and "Traceback" not in res.stderr


KILL_DURING_SAVE = """
import io, os, sys, time, torch
marker, args = sys.argv[1], sys.argv[2:]
real_save, calls = torch.save, [0]
def slow_save(obj, f, *a, **k):
    calls[0] += 1
    if calls[0] < 3:
        return real_save(obj, f, *a, **k)
    buf = io.BytesIO(); real_save(obj, buf, *a, **k); data = buf.getvalue()
    f.write(data[: len(data) // 2]); f.flush(); os.fsync(f.fileno())
    open(marker, "w").close()
    time.sleep(300)
torch.save = slow_save
from detplug_core.cli.main import main
main(args)
"""


def test_interrupted_runs_resume_to_bitwise_identical_weights(
    reference_run, iter_config, toy_env, detplug, tmp_path
):
    """One run interrupted three ways, resumed each time with --resume auto: killed while
    writing a checkpoint, kill -9 at a random iteration, SIGTERM at a later random one.
    The final weights, optimizer state and hook state equal the uninterrupted run's."""
    work = tmp_path / "work"
    train = ["train", str(iter_config), "--work-dir", str(work)]
    # 1. killed while writing its third checkpoint (iter_6): half a file is on disk
    marker = tmp_path / "writing"
    child = subprocess.Popen(
        [sys.executable, "-c", KILL_DURING_SAVE, str(marker), "-p", "runner_toy", *train],
        env=toy_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert child.poll() is None, child.stdout.read().decode()
        assert time.monotonic() < deadline, "the checkpoint write never started"
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    assert load_file(work / "latest.pth")["iter"] == 4  # the previous checkpoint, whole
    assert list(work.glob(".iter_6.pth.tmp-*"))
    # 2. kill -9 at a random iteration
    rng = random.Random()
    kill_at = rng.randint(5, 10)
    signal_at = rng.randint(kill_at + 1, 11)
    print(f"kill -9 after iteration {kill_at}, SIGTERM after iteration {signal_at}")
    res = detplug(*train, "--resume", env={"DETPLUG_TOY_KILL_AT": str(kill_at)})
    assert res.returncode == -signal.SIGKILL, res.stdout + res.stderr
    assert "left by an interrupted checkpoint write" in res.stdout
    assert "resumed from" in res.stdout and not list(work.glob(".*.tmp-*"))
    # killed inside iteration kill_at, before it counted: the last even iteration before it
    assert load_file(work / "latest.pth")["iter"] == (kill_at - 1) // 2 * 2
    # 3. SIGTERM at a later iteration: a checkpoint of exactly that iteration, exit 143
    res = detplug(*train, "--resume", "auto", env={"DETPLUG_TOY_SIGNAL_AT": str(signal_at)})
    assert res.returncode == 128 + signal.SIGTERM, res.stdout + res.stderr
    assert "interrupted by SIGTERM at epoch" in res.stderr and "--resume auto" in res.stderr
    assert load_file(work / "latest.pth")["iter"] == signal_at
    # 4. to the end
    res = detplug(*train, "--resume", "auto")
    assert res.returncode == 0, res.stdout + res.stderr
    _assert_same_state(reference_run / "latest.pth", work / "latest.pth")
