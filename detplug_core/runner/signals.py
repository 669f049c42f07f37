"""SIGTERM/SIGINT during training: finish the iteration, save a checkpoint, then exit.

The handler only records the signal; the training loop checks it after each iteration (and
the evaluation loop after each batch), saves ``iter_<n>.pth`` + ``latest.pth`` and raises
:class:`TrainingInterrupted` (exit code 128 + signal number through the CLI). A second
Ctrl-C while that happens interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from detplug_core.errors import DetplugError


class TrainingInterrupted(DetplugError):
    """Training stopped on a signal after saving a checkpoint."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class SignalGuard:
    """Route SIGTERM and SIGINT to ``on_signal(signum)`` while active (main thread only)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, on_signal: Callable[[int], None]) -> None:
        self.on_signal = on_signal
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:  # the next Ctrl-C is immediate
            signal.signal(signal.SIGINT, self._previous.get(signum, signal.default_int_handler))
        self.on_signal(signum)

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
