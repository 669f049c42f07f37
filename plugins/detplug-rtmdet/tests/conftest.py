"""Shared setup of the RTMDet tests.

pytest runs with --import-mode=importlib, which does not put test folders on sys.path: the
helper module beside these tests is made importable here. The tests run single-threaded:
on a small shared machine two intra-op threads waiting on each other are slower and far
noisier than one."""

import os
import sys
from collections.abc import Iterator

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
