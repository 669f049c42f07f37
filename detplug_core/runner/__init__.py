"""The Runner and the pieces it is built from.

``Hook``, ``HookError`` and ``TrainingInterrupted`` import without torch (plugins can
subclass ``Hook`` cheaply); ``Runner`` loads torch on first access.
"""

from __future__ import annotations

from typing import Any

from detplug_core.runner.hook import PRIORITIES, Hook, get_priority
from detplug_core.runner.hook_dispatch import HookError
from detplug_core.runner.signals import TrainingInterrupted

__all__ = ["PRIORITIES", "Hook", "HookError", "Runner", "TrainingInterrupted", "get_priority"]


def __getattr__(name: str) -> Any:
    if name == "Runner":
        from detplug_core.runner.runner import Runner

        return Runner
    raise AttributeError(f"module 'detplug_core.runner' has no attribute {name!r}")
