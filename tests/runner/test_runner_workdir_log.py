"""The work dir's lock and its log: a refused run leaves the running job's log.txt alone;
taking over a stale lock says so."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from detplug_core.runner import Runner
from detplug_core.runner.workdir_lock import LOCK_NAME, WorkDirBusyError


def _one_iteration(toy_config, work_dir):
    return toy_config(
        work_dir, train={"by_epoch": False, "max_iters": 1, "log_interval": 1}, val_dataloader=None
    )


def test_a_refused_run_writes_nothing_into_the_running_jobs_log(tmp_path, toy_config, toy):
    work = tmp_path / "work"
    work.mkdir()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = {"host": socket.gethostname(), "pid": running.pid, "started": "now"}
        (work / LOCK_NAME).write_text(json.dumps(holder))
        (work / "log.txt").write_text("the running job's line\n")
        with pytest.raises(WorkDirBusyError, match=f"pid {running.pid}"):
            with Runner(_one_iteration(toy_config, work)) as runner:
                runner.train()
    finally:
        running.kill()
        running.wait()
    assert (work / "log.txt").read_text() == "the running job's line\n"


def test_taking_over_a_stale_lock_is_a_warning(tmp_path, toy_config, toy, capsys):
    work = tmp_path / "work"
    work.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    holder = {"host": socket.gethostname(), "pid": gone.pid, "started": "yesterday"}
    (work / LOCK_NAME).write_text(json.dumps({**holder, "command": "detplug train x.yaml"}))
    with Runner(_one_iteration(toy_config, work)) as runner:
        runner.train()
    expected = f"took over the lock of a run that is gone (pid {gone.pid} on {holder['host']}"
    assert expected in capsys.readouterr().out
    log = (work / "log.txt").read_text()
    assert expected in log and "detplug train x.yaml" in log
    assert not (work / LOCK_NAME).exists()
