"""The launcher names the rank that failed first by the time each rank exited, not by the
order one polling pass happens to look at them: rank 1 is killed, rank 0 (which loses its
peer) exits 20 ms later, within the same 50-ms pass."""

from __future__ import annotations

import sys
import time

from detplug_core.cli.launcher import Launcher

RANK = """\
import os, signal, sys, time
rank, t0 = int(os.environ["RANK"]), float(sys.argv[1])
if rank == 1:
    time.sleep(max(0.0, t0 - time.time()))
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(max(0.0, t0 + 0.02 - time.time()))
print("error: lost my peer", file=sys.stderr, flush=True)
sys.exit(1)
"""


def test_the_rank_that_died_first_is_named():
    t0 = time.time() + 3.0  # both ranks are running by then
    launcher = Launcher([sys.executable, "-c", RANK, str(t0)], nproc=2)
    code, line = launcher.run()
    pid = launcher.ranks[1].proc.pid
    assert code == 1
    assert line == (
        f"error: distributed training failed: rank 1 (pid {pid}) failed first "
        "(killed by SIGKILL); the other ranks were stopped"
    )
