"""pytest fixtures the detector plugins' tests share; a plugin's ``conftest.py`` imports the
ones it wants (this module needs pytest, which is in every plugin's ``test`` extra)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Each test runs with one intra-op thread: on a small shared machine two threads
    waiting on each other are slower and far noisier than one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
