"""glibc's malloc thresholds during training (detplug_core/runner/malloc.py): applied by a
runner that owns its process (``detplug train``; test_runner_process.py), effective (memory a step frees is reused without page faults), and left alone when
the user opts out or tuned malloc through the environment. The thresholds are process-wide:
the cases that compare malloc's behaviour or settings run in a fresh process."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from detplug_core import Hook
from detplug_core.runner import Runner, malloc

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# A training step in miniature: twenty 1 MiB blocks allocated, written and freed, 30 times,
# after a 4 MiB block that glibc's adaptive mapping threshold rises to. When glibc maps such
# blocks on their own, or trims the heap top they were freed at, every page faults again on
# the next step (~150,000 faults); with the thresholds fixed they are reused. glibc's defaults
# do either or neither depending on where the heap top lies (about one process in three kept
# its heap when measured), so the control pins glibc's own starting threshold (128 KiB) in
# the environment, which turns the adaptation off: its faults do not depend on chance.
CHURN = textwrap.dedent(
    """
    import resource, sys
    import torch
    from detplug_core.runner.malloc import tune_malloc
    state = tune_malloc() if sys.argv[1] == "tune" else "untouched"
    torch.ones(1024 * 1024)
    def step():
        blocks = [torch.ones(256 * 1024) for _ in range(20)]
        del blocks
    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(30):
        step()
    print(state, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def churn(mode: str, **env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUN"))}
    out = subprocess.run(
        [sys.executable, "-c", CHURN, mode],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not GLIBC, reason="mallopt thresholds are glibc's")
def test_tuned_malloc_reuses_freed_memory_without_page_faults():
    state, tuned = churn("tune")
    assert state == "applied" and tuned < 5_000, tuned
    state, control = churn("plain", MALLOC_MMAP_THRESHOLD_=str(128 * 1024))
    assert state == "untouched" and control > 100_000, control


@pytest.mark.skipif(not GLIBC, reason="mallopt thresholds are glibc's")
def test_opt_out_and_the_users_own_malloc_settings_are_respected():
    state, _ = churn("tune", DETPLUG_MALLOC_TUNING="0")
    assert state == "off"
    state, _ = churn("tune", MALLOC_TRIM_THRESHOLD_="1048576")
    assert state == "user"


class MallocProbe(Hook):
    def before_train(self, runner) -> None:
        SEEN.append(malloc._applied)


SEEN: list[str | None] = []


def test_a_runner_told_it_owns_the_process_applies_it_before_the_loop(
    tmp_path, toy_config, toy, monkeypatch
):
    # in this process: the thresholds stay for the rest of the session, as in any run
    monkeypatch.delenv("DETPLUG_MALLOC_TUNING", raising=False)
    for name in malloc.USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    SEEN.clear()
    cfg = toy_config(
        tmp_path, hooks=[{"type": MallocProbe}], train={"by_epoch": False, "max_iters": 1}
    )
    with Runner(cfg, tune_process=True) as runner:
        runner.train()
    assert SEEN == ["applied" if GLIBC else "unavailable"]
