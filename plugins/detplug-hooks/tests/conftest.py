"""Make ``hooks_testkit`` (beside these tests) importable and offer it as a fixture."""

from __future__ import annotations

import os
import sys
from types import ModuleType

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def kit(detplug_plugin) -> ModuleType:
    """The tiny model, dataset and metric of ``hooks_testkit``, registered for this test."""
    return detplug_plugin.load_module("hooks_testkit")
