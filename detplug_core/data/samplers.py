"""Samplers that make data order resumable and augmentation independent of workers.

* Training order comes from ``DistributedSampler`` (also for one process): its permutation
  is a function of ``(seed, epoch)`` only. :class:`ResumableBatchSampler` batches it (or a
  configured batch sampler), starts an epoch after the batches a checkpoint had consumed,
  and with DataLoader workers tags each index with a per-sample seed.
* :class:`SeededDataset` seeds ``random``, NumPy and torch in the worker from that tag before
  loading the sample, so a sample's augmentation depends only on ``(seed, epoch, index)``:
  not on the number of workers, their prefetching, or whether the run was resumed.
  Without workers (``num_workers: 0``) samples load in the main process from its own
  generators, whose state checkpoints save.
* :class:`ShardSampler` splits evaluation data over ranks without padding duplicates.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, Sized
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of sample ``index`` in ``epoch`` (ints hash the same in every process)."""
    return hash((seed, epoch, index)) & 0xFFFF_FFFF


class ResumableBatchSampler(Sampler[list]):
    """Batches of one epoch, optionally skipping the first ones; see module docstring."""

    def __init__(
        self, batch_sampler: Iterable[list[int]], sampler: Any, seed: int, with_seeds: bool
    ) -> None:
        self.batch_sampler = batch_sampler
        self.sampler = sampler
        self.seed = seed
        self.with_seeds = with_seeds
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch whose order to produce and how many batches to leave out."""
        self.epoch = epoch
        self._skip = skip
        for obj in (self.sampler, self.batch_sampler):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)

    def __len__(self) -> int:
        if isinstance(self.batch_sampler, Sized):
            return len(self.batch_sampler)
        raise TypeError("the batch sampler has no length")

    def __iter__(self) -> Iterator[list]:
        skip, self._skip = self._skip, 0
        batches = itertools.islice(iter(self.batch_sampler), skip, None)
        if not self.with_seeds:
            yield from batches
            return
        seed, epoch = self.seed, self.epoch
        for batch in batches:
            yield [(i, sample_seed(seed, epoch, i)) for i in batch]


class SeededDataset(Dataset):
    """Loads ``dataset[index]`` for keys ``(index, seed)`` after seeding every generator."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        random.seed(seed)
        np.random.seed(seed)
        # The CPU generator gets the seed torch.manual_seed would give it. torch.manual_seed
        # itself also queues the seed for CUDA, XPU and MTIA, each with a recorded stack
        # trace: about 0.5 ms per sample in a data worker, which uses none of them.
        torch.default_generator.manual_seed(seed)
        if torch.cuda.is_initialized():
            torch.cuda.manual_seed_all(seed)
        return self.dataset[index]

    def __getattr__(self, name: str) -> Any:  # classes, metadata of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world_size, ...`` in order: each sample on exactly one rank."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, length, world_size))

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)
