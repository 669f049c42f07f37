"""detplug-runner-toy: the smallest real plugin the Runner tests need.

Components: ``ToyDetector`` (a two-conv, one-level dense detector), ``ToyShapes`` (coloured
rectangles generated from the index), ``ToyRandomFlip``/``ToyResize`` transforms, ``ToyMetric``
(recall/precision at IoU 0.5 with a per-class table) and the hooks ``ToyCounterHook``
(stateful) and ``ToyFailingHook``.

Module-level hookimpls act only when the tests set these environment variables:

* ``DETPLUG_TOY_KILL_AT=N``: SIGKILL this process once N iterations are complete;
* ``DETPLUG_TOY_SIGNAL_AT=N``: send SIGTERM to this process once N iterations are complete;
* ``DETPLUG_TOY_FAIL_AT=RANK:N``: raise on that rank once N iterations are complete.
"""

from __future__ import annotations

import os
import signal

from detplug_core import hookimpl
from detplug_runner_toy import data, hooks, metric, model  # noqa: F401  (registers)

__version__ = "0.3.0"


def _at(name: str, runner) -> bool:
    value = os.environ.get(name)
    return value is not None and runner.iter == int(value)


@hookimpl
def after_train_iter(runner) -> None:
    if _at("DETPLUG_TOY_KILL_AT", runner):
        os.kill(os.getpid(), signal.SIGKILL)
    if _at("DETPLUG_TOY_SIGNAL_AT", runner):
        os.kill(os.getpid(), signal.SIGTERM)
    fail = os.environ.get("DETPLUG_TOY_FAIL_AT")
    if fail:
        rank, _, n = fail.partition(":")
        if runner.rank == int(rank) and runner.iter == int(n):
            raise RuntimeError(f"toy failure on rank {rank}")
