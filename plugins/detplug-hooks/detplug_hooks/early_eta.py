"""The time a run will take, in the log after its first iterations: the regular log line
comes every ``train.log_interval`` iterations, which at a minute an iteration (photos at
full size on a CPU) is half an hour without a word."""

from __future__ import annotations

import datetime
from typing import Any

__all__ = ["EARLY_ITER", "early_eta_line"]

EARLY_ITER = 3  # the first iterations pay for warm-up (workers, allocator); the third less


def early_eta_line(runner: Any) -> str | None:
    """After iteration ``EARLY_ITER`` of a run that starts at 0 and logs later than that:
    the line with the iteration time and the eta; else None."""
    p = runner.progress
    if p.iter != EARLY_ITER or runner.log_interval <= EARLY_ITER or not p.max_iters:
        return None
    eta = datetime.timedelta(seconds=round(p.iter_time * max(p.max_iters - p.iter, 0)))
    return (
        f"Iter [{p.iter}/{p.max_iters}]  {p.iter_time:.2f} s per iteration, eta {eta} "
        f"(the log line comes every {runner.log_interval} iterations)"
    )
