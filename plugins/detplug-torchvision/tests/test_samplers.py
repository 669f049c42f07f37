"""AspectRatioBatchSampler: homogeneous batches, every index once, exact length."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.samplers import AspectRatioBatchSampler, image_size_of
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import (
    ConcatDataset,
    DataLoader,
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
    Subset,
)

import detplug_core
from detplug_core.errors import BuildError


class Sizes(torch.utils.data.Dataset):
    """Items are their index; sizes come from a list, never from decoding."""

    def __init__(self, sizes):
        self.sizes = sizes

    def __len__(self):
        return len(self.sizes)

    def __getitem__(self, i):
        return i

    def get_image_size(self, i):
        return self.sizes[i]


LAND, PORT = (480, 640), (640, 480)


def check(sampler, dataset):
    batches = list(sampler)
    assert len(batches) == len(sampler)
    flat = [i for b in batches for i in b]
    mixed = [b for b in batches if len({dataset.sizes[i][0] > dataset.sizes[i][1] for i in b}) > 1]
    assert len(mixed) <= 1 and (not mixed or mixed[0] is batches[-1] or mixed[0] is batches[-2])
    return batches, flat


def test_batches_group_landscape_and_portrait():
    ds = Sizes([LAND, PORT] * 5 + [LAND, LAND, PORT])
    sampler = AspectRatioBatchSampler(SequentialSampler(ds), batch_size=2)
    batches, flat = check(sampler, ds)
    assert sorted(flat) == list(range(len(ds)))
    assert batches[:4] == [[0, 2], [1, 3], [4, 6], [5, 7]]
    assert len(sampler) == 7


def test_drop_last_and_random_order():
    ds = Sizes([LAND] * 7 + [PORT] * 4)
    sampler = AspectRatioBatchSampler(RandomSampler(ds), batch_size=3, drop_last=True)
    batches, flat = check(sampler, ds)
    assert len(batches) == len(sampler) == 3
    assert all(len(b) == 3 for b in batches) and len(set(flat)) == 9


def test_dataset_instead_of_sampler_and_keyword_form_of_the_core_loader():
    ds = Sizes([LAND, PORT] * 4)
    torch.manual_seed(0)
    shuffled = list(AspectRatioBatchSampler(ds, 2))
    assert sorted(i for b in shuffled for i in b) == list(range(8))
    ordered = list(AspectRatioBatchSampler(ds, 2, shuffle=False))
    assert ordered[0] == [0, 2]
    dist = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=True, seed=3)
    built = detplug_core.SAMPLERS.build(
        {"type": "AspectRatioBatchSampler"}, sampler=dist, dataset=ds, batch_size=2
    )
    built.set_epoch(1)
    assert sorted(i for b in built for i in b) == sorted(dist)
    assert len(built) == 2


def test_sizes_through_wrappers():
    a, b = Sizes([LAND] * 3), Sizes([PORT] * 2)
    assert image_size_of(ConcatDataset([a, b]), 3) == PORT
    assert image_size_of(Subset(b, [1]), 0) == PORT

    class Repeat(torch.utils.data.Dataset):
        def __init__(self, dataset):
            self.dataset = dataset

        def __len__(self):
            return 2 * len(self.dataset)

    assert image_size_of(Repeat(b), 3) == PORT


def test_dataset_without_sizes_is_a_clear_error():
    with pytest.raises(BuildError, match="has no get_image_size"):
        AspectRatioBatchSampler(SequentialSampler(range(3)), 2, dataset=[1, 2, 3])
    with pytest.raises(BuildError, match="batch_size"):
        AspectRatioBatchSampler(Sizes([LAND]), 0)


def test_works_as_a_dataloader_batch_sampler():
    ds = Sizes([LAND, PORT, PORT, LAND, PORT])
    loader = DataLoader(ds, batch_sampler=AspectRatioBatchSampler(ds, 2, shuffle=False))
    assert [b.tolist() for b in loader] == [[1, 2], [0, 3], [4]]


@settings(max_examples=100, deadline=None)
@given(
    portrait=st.lists(st.booleans(), min_size=0, max_size=60),
    batch_size=st.integers(1, 9),
    drop_last=st.booleans(),
)
def test_every_index_once_and_exact_length(portrait, batch_size, drop_last):
    ds = Sizes([PORT if p else LAND for p in portrait])
    sampler = AspectRatioBatchSampler(SequentialSampler(ds), batch_size, drop_last=drop_last)
    batches, flat = check(sampler, ds)
    assert len(flat) == len(set(flat))
    if not drop_last:
        assert sorted(flat) == list(range(len(ds)))
    else:
        assert len(flat) == batch_size * (len(ds) // batch_size)
    assert all(len(b) == batch_size for b in batches[: len(batches) - (not drop_last)])
