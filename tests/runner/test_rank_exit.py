"""A rank's exit (:mod:`detplug_core.cli.rank`): its one line comes out before any teardown,
with the exit code the error carries; rank 0 alone reports an interruption. Each case runs in
a child process, because a failing rank leaves with ``os._exit``."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """\
import sys
from detplug_core.cli.rank import run_as_rank
from detplug_core.errors import ConfigError
from detplug_core.runner.signals import TrainingInterrupted

def body():
    kind = sys.argv[1]
    print("working", flush=True)
    if kind == "config":
        raise ConfigError("model.head: num_classes must be positive")
    if kind == "interrupted":
        raise TrainingInterrupted("interrupted by SIGTERM at epoch 1, iteration 3", 15)
    if kind == "crash":
        raise ValueError("boom\\nsecond line")
    return "done"

print("result", run_as_rank(body))
"""


def _run(kind: str, rank: str) -> subprocess.CompletedProcess:
    env = {"RANK": rank, "WORLD_SIZE": "2", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", CHILD, kind],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("kind", "rank", "code", "line"),
    [
        ("config", "1", 2, "error: [rank 1/2] model.head: num_classes must be positive"),
        (
            "interrupted",
            "0",
            143,
            "error: [rank 0/2] interrupted by SIGTERM at epoch 1, iteration 3",
        ),
        ("interrupted", "1", 143, None),
        ("crash", "0", 1, "error: [rank 0/2] ValueError: boom"),
    ],
)
def test_a_failing_rank_prints_one_line_and_exits_with_its_code(kind, rank, code, line):
    res = _run(kind, rank)
    assert res.returncode == code, res.stderr
    assert res.stdout == "working\n"  # flushed, and nothing after the failure
    assert res.stderr.splitlines() == ([line] if line else [])


def test_a_successful_rank_returns_normally():
    res = _run("ok", "1")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "working\nresult done\n"
