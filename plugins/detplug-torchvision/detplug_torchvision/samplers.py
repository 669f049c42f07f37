"""Batch samplers (SAMPLERS, scope ``torchvision``)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sized
from typing import Any

from torch.utils.data import RandomSampler, Sampler, SequentialSampler, Subset

from detplug_core.errors import BuildError
from detplug_torchvision.registries import SAMPLERS

__all__ = ["AspectRatioBatchSampler", "image_size_of"]


def _part(dataset: Any, index: int) -> tuple[Any, int] | None:
    """(sub-dataset, local index) for concatenations (torch's and detplug's)."""
    ends = getattr(dataset, "cumulative_sizes", None) or getattr(dataset, "offsets", None)
    parts = getattr(dataset, "datasets", None)
    if ends is None or parts is None:
        return None
    which = bisect.bisect_right(ends, index)
    return parts[which], index - (ends[which - 1] if which else 0)


def image_size_of(dataset: Any, index: int) -> tuple[int, int]:
    """``(height, width)`` of item ``index`` without decoding it: the dataset's
    ``get_image_size``, looked up through Subset, concatenation and repeat wrappers."""
    if hasattr(dataset, "get_image_size"):
        height, width = dataset.get_image_size(index)
        return int(height), int(width)
    if isinstance(dataset, Subset):
        return image_size_of(dataset.dataset, dataset.indices[index])
    part = _part(dataset, index)
    if part is not None:
        return image_size_of(*part)
    inner = getattr(dataset, "dataset", None)
    if inner is not None and len(inner) > 0:  # RepeatDataset(dataset, times)
        return image_size_of(inner, index % len(inner))
    raise BuildError(
        f"AspectRatioBatchSampler needs image sizes, but {type(dataset).__name__} has no "
        "get_image_size(index) -> (height, width)"
    )


def _dataset_of(sampler: Any) -> Any:
    for attr in ("data_source", "dataset"):  # Random/SequentialSampler, DistributedSampler
        if hasattr(sampler, attr):
            return getattr(sampler, attr)
    return None


@SAMPLERS.register()
class AspectRatioBatchSampler(Sampler[list[int]]):
    """Batches whose images are all landscape (w >= h) or all portrait, so padding to the
    batch's largest image wastes little.

    ``sampler`` draws the indices (order, shuffling, sharding over ranks stay its
    business; the runner passes its seeded ``DistributedSampler``). Given a dataset instead
    (``AspectRatioBatchSampler(dataset, 8)``), indices are drawn at random (``shuffle``) or
    in order. The dataset (``dataset=``, else the sampler's) must expose
    ``get_image_size(i) -> (h, w)``. Indices are grouped in sampler order; at the end the
    leftovers of both groups are batched together (one mixed batch at most), so every
    index is used once and ``len()`` is exact: ``ceil(n / batch_size)`` (``floor`` with
    ``drop_last``).
    """

    def __init__(
        self,
        sampler: Sampler[int] | Any = None,
        batch_size: int = 1,
        drop_last: bool = False,
        shuffle: bool = True,
        dataset: Any = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise BuildError(f"AspectRatioBatchSampler: batch_size must be > 0, got {batch_size}")
        if sampler is not None and not isinstance(sampler, Sampler):
            sampler, dataset = None, sampler  # called with a dataset
        if dataset is None:
            dataset = _dataset_of(sampler)
        if dataset is None:
            raise BuildError("AspectRatioBatchSampler: needs a dataset, or a sampler over one")
        if sampler is None:
            sampler = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        # 0 = landscape (w >= h), 1 = portrait; from the annotations, once.
        self.groups = [int(h > w) for h, w in map(self._size, range(len(dataset)))]

    def _size(self, index: int) -> tuple[int, int]:
        return image_size_of(self.dataset, index)

    def set_epoch(self, epoch: int) -> None:
        """Forwarded to the sampler (DistributedSampler reshuffles per epoch)."""
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        buckets: tuple[list[int], list[int]] = ([], [])
        for index in self.sampler:
            bucket = buckets[self.groups[index]]
            bucket.append(int(index))
            if len(bucket) == self.batch_size:
                yield bucket[:]
                bucket.clear()
        rest = buckets[0] + buckets[1]
        for start in range(0, len(rest), self.batch_size):
            batch = rest[start : start + self.batch_size]
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch

    def __len__(self) -> int:
        n = len(self.sampler) if isinstance(self.sampler, Sized) else len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return (n + self.batch_size - 1) // self.batch_size
