"""Shared setup of the Mask R-CNN tests: the helper module beside them is importable
(pytest's --import-mode=importlib puts no test folder on sys.path), and every test runs with
one intra-op thread (detplug_torchvision.testing.fixtures.single_thread)."""

import os
import sys

from detplug_torchvision.testing.fixtures import single_thread  # noqa: F401  (autouse)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
