"""``detplug train --nproc N``: start N ranks on this machine and supervise them.

Why not torchrun for this (it is still the way for several machines, and every rank runs
the same code under either): a ``detplug`` launcher that starts torchrun cannot see the
ranks. SIGTERM to it orphaned torchrun and both ranks, which trained on unsupervised; Ctrl-C
reached every process twice (the terminal's process group and torchrun's forwarding) and
ended in torchrun's ``SignalException`` traceback; a killed rank left only the errors of the
*surviving* ranks (a gloo "connection closed", a DataLoader worker) and torchrun's 30-line
summary. This launcher:

* starts rank ``r`` as ``python -m detplug_core.cli.main ... train ...`` with the
  environment torchrun would give it (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
  ``MASTER_ADDR``/``MASTER_PORT`` of a free local port), in its own process group, so only
  the launcher receives the terminal's Ctrl-C; on Linux each rank also gets SIGTERM if the
  launcher itself dies (``PR_SET_PDEATHSIG``);
* forwards SIGTERM and SIGINT once to every rank: they agree on the iteration to stop at,
  rank 0 saves a checkpoint, and the launcher exits 128 + the signal (143, 130) with rank
  0's one line. A second Ctrl-C kills the ranks at once;
* notes which rank exits first with a failure and stops the others; the one line printed
  names that rank and its cause (its own ``error:`` line, or how it died). The other ranks'
  consequential errors are not printed (``--debug`` prints every line).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

GRACE_S = 60.0  # how long ranks may take to save and stop after a failure elsewhere
SETTLE_S = 0.2  # after a first failure is seen, how long to wait for exits of the same moment


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child before exec (Linux only)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class _Rank:
    rank: int
    proc: subprocess.Popen
    errors: list[str] = field(default_factory=list)  # held back "error:" lines
    exited_at: float | None = None


def _pump(rank: _Rank, debug: bool) -> None:
    """Copy a rank's stderr through, holding back its ``error:`` lines."""
    assert rank.proc.stderr is not None
    for line in iter(rank.proc.stderr.readline, ""):
        if line.startswith("error:") and not debug:
            rank.errors.append(line.rstrip("\n"))
        else:
            sys.stderr.write(line)
            sys.stderr.flush()


def _wait(rank: _Rank) -> None:
    """Note when the rank exits, to the millisecond: which rank failed *first* is decided
    by these times, not by the order in which one polling pass happens to find them."""
    rank.proc.wait()
    rank.exited_at = time.monotonic()


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Launcher:
    """Run ``argv`` (this command, as one rank) ``nproc`` times; :meth:`run` -> exit code."""

    def __init__(self, argv: list[str], nproc: int, *, debug: bool = False) -> None:
        self.argv = argv
        self.nproc = nproc
        self.debug = debug
        self.ranks: list[_Rank] = []
        self.signals: list[int] = []

    def _env(self, rank: int, port: int) -> dict[str, str]:
        return {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(self.nproc),
            "LOCAL_WORLD_SIZE": str(self.nproc),
            "GROUP_RANK": "0",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }

    def _on_signal(self, signum: int, frame: object) -> None:
        self.signals.append(signum)
        second = len(self.signals) > 1
        for r in self.ranks:
            if r.proc.poll() is None:
                try:
                    r.proc.send_signal(signal.SIGKILL if second else signum)
                except ProcessLookupError:
                    pass

    def run(self) -> tuple[int, str | None]:
        """Start, supervise and reap the ranks; returns (exit code, the one line or None)."""
        port = free_port()
        linux = sys.platform.startswith("linux")
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        pumps = []
        try:
            for rank in range(self.nproc):
                proc = subprocess.Popen(
                    self.argv,
                    env=self._env(rank, port),
                    stderr=subprocess.PIPE,
                    text=True,
                    process_group=0,
                    preexec_fn=_die_with_parent if linux else None,
                )
                self.ranks.append(_Rank(rank, proc))
                pump = threading.Thread(target=_pump, args=(self.ranks[-1], self.debug))
                pump.start()
                pumps.append(pump)
                threading.Thread(target=_wait, args=(self.ranks[-1],), daemon=True).start()
            first = self._supervise()
        finally:
            for r in self.ranks:  # never leave a rank behind
                if r.proc.poll() is None:
                    r.proc.kill()
                    r.proc.wait()
            for pump in pumps:
                pump.join(timeout=5)
            for s, handler in previous.items():
                signal.signal(s, handler)
        return self._outcome(first)

    def _supervise(self) -> _Rank | None:
        first: _Rank | None = None
        deadline = None
        while True:
            done = [r for r in self.ranks if r.exited_at is not None]
            failed = [r for r in done if r.proc.returncode != 0]
            if failed and first is None and not self.signals:
                # A rank that loses its peer fails a moment after it: let every exit of
                # this moment be noted, then name the earliest.
                time.sleep(SETTLE_S)
                failed = [r for r in self.ranks if r.exited_at is not None and r.proc.returncode]
                first = min(failed, key=lambda r: r.exited_at or 0.0)
                deadline = time.monotonic() + GRACE_S
                self._stop_others(first)
                continue
            if len(done) == len(self.ranks):
                return first
            if deadline is not None and time.monotonic() > deadline:
                for r in self.ranks:
                    if r.exited_at is None:
                        r.proc.kill()
            time.sleep(0.05)

    def _stop_others(self, failed: _Rank) -> None:
        for r in self.ranks:
            if r is not failed and r.exited_at is None:
                try:
                    r.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def _outcome(self, first: _Rank | None) -> tuple[int, str | None]:
        if self.signals:
            signum = self.signals[0]
            name = signal.Signals(signum).name
            lines = [e for r in self.ranks for e in r.errors]
            if len(self.signals) > 1:
                return 128 + signum, f"error: {name} twice: every rank was killed at once"
            return 128 + signum, lines[0] if lines else f"error: stopped by {name}"
        if first is None:
            codes = [r.proc.returncode for r in self.ranks]
            bad = next((c for c in codes if c != 0), 0)
            lines = [e for r in self.ranks for e in r.errors]
            return (bad if 0 < bad < 128 else (1 if bad else 0)), (lines[0] if lines else None)
        cause = (
            re.sub(r"^error: (\[rank \d+/\d+\] )?", "", first.errors[0]) if first.errors else None
        )
        how = describe_exit(first.proc.returncode)
        detail = cause or how
        line = (
            f"error: distributed training failed: rank {first.rank} (pid {first.proc.pid}) "
            f"failed first ({detail}); the other ranks were stopped"
        )
        code = first.proc.returncode
        return (code if 0 < code < 128 else 1), line
