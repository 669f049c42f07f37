"""One rank of a distributed ``train``/``test``: its error line, then a teardown that cannot
take the line or the exit code with it.

Under ``WORLD_SIZE`` > 1 the command body runs in :func:`run_as_rank`, which

* prints any error as one line naming the rank *before* anything distributed is torn down
  (a rank stopped by a signal is silent except rank 0, which says where its checkpoint is);
* after success, frees the model (a ``DistributedDataParallel`` reducer holds the process
  group), waits at a barrier until every rank has finished (rank 0 may still be writing its
  last checkpoint) and only then destroys the process group, so no rank tears down gloo or
  NCCL under another that still uses it;
* after a failure, leaves with ``os._exit`` once its line is out and the streams are
  flushed: the other ranks may be gone or stopping, and a process-group destructor that
  runs against a dead peer or during interpreter shutdown can abort the process
  ("terminate called without an active exception", SIGABRT), turning a clean exit 143
  into a crash without its line.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from detplug_core.errors import DetplugError


def _label() -> str:
    return f"[rank {os.environ.get('RANK', '?')}/{os.environ.get('WORLD_SIZE', '?')}]"


def failure_line(err: BaseException, rank: str) -> tuple[str | None, int]:
    """The rank's one line (None: stay silent) and its exit code for ``err``."""
    from detplug_core.runner.signals import TrainingInterrupted

    if isinstance(err, TrainingInterrupted):  # rank 0 says where its checkpoint is
        return (f"error: {_label()} {err}" if rank == "0" else None), err.exit_code
    if isinstance(err, DetplugError):
        return f"error: {_label()} {err}", err.exit_code
    if isinstance(err, KeyboardInterrupt):
        return (
            f"error: {_label()} interrupted (Ctrl-C); latest.pth is the last whole checkpoint",
            130,
        )
    first = (str(err).strip().splitlines() or [""])[0]
    return f"error: {_label()} {type(err).__name__}: {first}", 1


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _finish_success() -> None:
    import torch.distributed as dist

    gc.collect()  # the DDP wrapper and DataLoader iterators go while the group still exists
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_as_rank(fn: Callable[[], Any], *, debug: bool = False) -> Any:
    """Run ``fn`` as one rank of a distributed job (see the module docstring)."""
    rank = os.environ.get("RANK", "?")
    try:
        result = fn()
    except (Exception, KeyboardInterrupt) as err:  # SystemExit (a clean exit code) passes
        line, code = failure_line(err, rank)
        if debug and not isinstance(err, DetplugError):
            import traceback

            traceback.print_exc()
        if line:
            click.echo(line, err=True)
    else:
        _finish_success()
        return result
    _flush()
    os._exit(code)
