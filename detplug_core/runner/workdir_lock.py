"""One training run per work dir: ``<work_dir>/.detplug.lock``.

The lock file holds the holder's host, pid, start time and command line. Taking it:

* the file does not exist: create it (``O_CREAT | O_EXCL``, so of two runs starting at the
  same moment exactly one wins);
* it exists and names a process on this host that no longer runs (a run killed with
  ``kill -9``, a machine that rebooted): it is stale; it is replaced and a warning says so;
* it names a live process, or a process on another host (which cannot be checked from
  here): the run is refused with one line naming the holder and how to proceed.

The check-and-replace of a stale lock runs under an ``flock`` on the work dir where the
platform has one, so two runs that find the same stale lock cannot both take it over.
The lock is released (the file removed) when the run ends, whatever way it ends short of
``kill -9``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from detplug_core.errors import DetplugError

LOCK_NAME = ".detplug.lock"


class WorkDirBusyError(DetplugError):
    """Another run holds the work dir."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _guard(work_dir: Path) -> Iterator[None]:
    """An ``flock`` on the work dir itself (no extra file) around check-and-replace."""
    try:
        import fcntl

        fd = os.open(work_dir, os.O_RDONLY)
    except (ImportError, OSError):  # Windows: O_EXCL alone
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def read_holder(path: Path) -> dict | None:
    """The holder recorded in a lock file (None if unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe_holder(holder: dict | None) -> str:
    if not holder:
        return "an unknown run (the lock file is unreadable)"
    return f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"


class WorkDirLock:
    """The lock of one work dir; :meth:`acquire` then :meth:`release` (or a ``with``)."""

    def __init__(self, work_dir: str | os.PathLike) -> None:
        self.work_dir = Path(work_dir)
        self.path = self.work_dir / LOCK_NAME
        self.held = False
        self.replaced: dict | None = None  # the stale holder taken over, for a warning

    def _record(self) -> dict:
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
        }

    def _is_stale(self, holder: dict | None) -> bool:
        if holder is None:
            return False
        pid = holder.get("pid")
        if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
            return False
        return pid != os.getpid() and not _pid_alive(pid)

    def acquire(self) -> None:
        """Take the lock or raise :class:`WorkDirBusyError` naming its holder."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with _guard(self.work_dir):
            if self.path.exists():
                holder = read_holder(self.path)
                if not self._is_stale(holder):
                    raise WorkDirBusyError(
                        f"work dir {self.work_dir} is in use by another run "
                        f"({describe_holder(holder)}); wait for it to end, use another "
                        f"--work-dir, or delete {self.path} if that run is gone"
                    )
                self.path.unlink(missing_ok=True)
                self.replaced = holder
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = read_holder(self.path)
                raise WorkDirBusyError(
                    f"work dir {self.work_dir} is in use by another run ({describe_holder(holder)})"
                ) from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._record(), f)
        self.held = True

    def release(self) -> None:
        """Remove the lock file if this process holds it."""
        if not self.held:
            return
        self.held = False
        holder = read_holder(self.path)
        if holder and holder.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> WorkDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_for_run(work_dir: Path, rank: int, logger: logging.Logger) -> WorkDirLock | None:
    """Rank 0 takes the work dir's lock; every rank gets its refusal (one call site in the
    runner, at the start of training); taking over a stale lock is a warning on ``logger``.
    Returns the lock to release (None on other ranks)."""
    from detplug_core import dist

    lock = WorkDirLock(work_dir) if rank == 0 else None
    refusal = None
    if lock is not None:
        try:
            lock.acquire()
        except WorkDirBusyError as err:
            refusal = str(err)
    refusal = dist.broadcast_from_main(refusal)
    if refusal:
        raise WorkDirBusyError(refusal)
    if lock is not None and lock.replaced is not None:
        logger.warning(
            "work dir %s: took over the lock of a run that is gone (%s; %s)",
            work_dir,
            describe_holder(lock.replaced),
            lock.replaced.get("command") or "command unknown",
        )
    return lock
