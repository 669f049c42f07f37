"""The C heap during training: glibc's malloc keeps the memory a training step frees.

A training step allocates and frees the same few hundred megabytes of activations and
gradients every iteration, in blocks from a few kilobytes to tens of megabytes. With glibc's
defaults, blocks above a threshold that adapts upwards from 128 KiB are mapped and unmapped
on their own, and whenever more than twice that threshold lies free at the top of the heap
it is handed back to the kernel; the next iteration then touches those pages again and every
4 KiB page costs a page fault. In the main job (FCOS-R18, 2 CPU cores) the training process
took 20,000-60,000 faults and 0.1 s of kernel time per second of training (a plain
torchvision loop a quarter of those faults); with the thresholds below, ~100 faults and
0.01 s, and an iteration 4-8% faster (docs/runner.md, the heap).

:func:`tune_malloc` fixes both thresholds for the process with ``mallopt``: blocks up to
32 MiB (glibc's largest allowed mapping threshold on 64-bit) come from the heap, and free
memory at its top is kept. Memory freed by a step is then reused by the next without a
fault; the process keeps its peak heap instead of returning it between iterations. It is
what ``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=...`` in the environment does,
applied by the runner so nobody has to know. Data workers forked afterwards inherit it.

It does nothing where there is no glibc (macOS, Windows, musl), when the user tuned malloc
through the environment already (``MALLOC_*_`` variables, ``GLIBC_TUNABLES``), or when
``DETPLUG_MALLOC_TUNING=0``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

from detplug_core.env import env_flag

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 2**31 - 1  # an int: mallopt takes one; effectively "never trim"
USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

_applied: str | None = None


def tune_malloc() -> str:
    """Apply the thresholds once per process; returns what was done, for the log:
    ``"applied"`` or why not (``"off"``, ``"user"``, ``"unavailable"``)."""
    global _applied
    if _applied == "applied":
        return _applied
    _applied = _tune()
    return _applied


def _tune() -> str:
    if not env_flag("DETPLUG_MALLOC_TUNING", True):
        return "off"
    if any(os.environ.get(name) for name in USER_VARIABLES):
        return "user"
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return "unavailable"
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "unavailable"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        return "unavailable"
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return "applied"
