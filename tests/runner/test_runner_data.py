"""Core data plumbing: transforms, collate, wrappers, resumable and seeded sampling."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors

from detplug_core import DATASETS, TRANSFORMS
from detplug_core.data import build_transforms, detection_collate
from detplug_core.data.loader import build_dataloader
from detplug_core.data.samplers import ShardSampler
from detplug_core.errors import ConfigError, DataError


def test_collate_gives_lists_of_plain_tensors():
    image = tv_tensors.Image(torch.rand(3, 4, 5))
    boxes = tv_tensors.BoundingBoxes(
        torch.tensor([[0.0, 0, 2, 2]]), format="XYXY", canvas_size=(4, 5)
    )
    images, targets = detection_collate([(image, {"boxes": boxes, "image_id": 3})] * 2)
    assert len(images) == 2 and type(images[0]) is torch.Tensor
    assert type(targets[0]["boxes"]) is torch.Tensor and targets[0]["image_id"] == 3
    assert images[0].data_ptr() == image.data_ptr()  # no copy


def test_build_transforms_chains_in_order(toy):
    assert build_transforms(None)("img", "tgt") == ("img", "tgt")
    chain = build_transforms(
        [{"type": "ToyResize", "scale": 2.0}, {"type": "ToyRandomFlip", "p": 1.0}]
    )
    image = torch.zeros(3, 4, 6)
    image[:, 0, 0] = 1
    out, target = chain(image, {"boxes": torch.tensor([[0.0, 0.0, 1.0, 1.0]])})
    assert out.shape == (3, 8, 12)
    assert target["boxes"].tolist() == [[10.0, 0.0, 12.0, 2.0]]
    with pytest.raises(Exception, match=r"ToyResize has no parameter 'scal'"):
        build_transforms([{"type": "ToyResize", "scal": 2}])


def test_concat_and_repeat_datasets(toy):
    concat = DATASETS.build(
        {
            "type": "ConcatDataset",
            "datasets": [
                {"type": "ToyShapes", "num_images": 3},
                {"type": "ToyShapes", "num_images": 2, "seed": 5},
            ],
        }
    )
    assert len(concat) == 5 and concat.classes == ["red", "green"]
    assert torch.equal(
        concat[3][0], DATASETS.build({"type": "ToyShapes", "num_images": 2, "seed": 5})[0][0]
    )
    repeat = DATASETS.build(
        {"type": "RepeatDataset", "times": 3, "dataset": {"type": "ToyShapes", "num_images": 2}}
    )
    assert len(repeat) == 6 and repeat.classes == ["red", "green"]
    assert torch.equal(repeat[5][0], repeat[1][0])
    with pytest.raises(DataError, match=r"datasets.1: classes .* differ"):
        DATASETS.build(
            {
                "type": "ConcatDataset",
                "datasets": [
                    {"type": "ToyShapes", "num_images": 1},
                    {"type": "ToyShapes", "num_images": 1, "num_classes": 3},
                ],
            }
        )


def _order(built, epoch: int, skip: int = 0) -> list[int]:
    built.loader.batch_sampler.set_epoch(epoch, skip=skip)
    return [int(t["image_id"]) for _, targets in built.loader for t in targets]


def test_train_order_depends_on_seed_and_epoch_and_resumes_mid_epoch(toy):
    cfg = {"batch_size": 2, "dataset": {"type": "ToyShapes", "num_images": 8}}
    built = build_dataloader(cfg, "train_dataloader", train=True, seed=7)
    epoch0, epoch1 = _order(built, 0), _order(built, 1)
    assert sorted(epoch0) == list(range(8)) and epoch0 != epoch1
    assert _order(built, 1, skip=3) == epoch1[6:]  # the 2 samples of the last batch
    assert _order(built, 0) == epoch0  # skipping applies once
    again = build_dataloader(cfg, "train_dataloader", train=True, seed=7)
    assert _order(again, 1) == epoch1
    ranks = [
        build_dataloader(cfg, "train_dataloader", train=True, seed=7, rank=r, world_size=2)
        for r in (0, 1)
    ]
    per_rank = [_order(b, 1) for b in ranks]
    assert sorted(per_rank[0] + per_rank[1]) == list(range(8))


def test_worker_augmentation_depends_only_on_seed_epoch_and_index(toy):
    """With workers, a random transform gives the same result whatever the number of
    workers and whether the epoch started from its beginning or was resumed."""
    cfg = {
        "batch_size": 2,
        "num_workers": 1,
        "persistent_workers": False,
        "dataset": {
            "type": "ToyShapes",
            "num_images": 6,
            "transforms": [{"type": "ToyRandomFlip", "p": 0.5}],
        },
    }

    def images(workers: int, skip: int) -> dict[int, torch.Tensor]:
        built = build_dataloader(
            {**cfg, "num_workers": workers}, "train_dataloader", train=True, seed=3
        )
        built.loader.batch_sampler.set_epoch(2, skip=skip)
        return {
            int(t["image_id"]): img
            for imgs, tg in built.loader
            for img, t in zip(imgs, tg, strict=True)
        }

    one, two, resumed = images(1, 0), images(2, 0), images(2, 1)
    flips = 0
    for index, img in resumed.items():
        assert torch.equal(img, one[index]) and torch.equal(img, two[index])
    for index in one:
        flips += not torch.equal(
            one[index], DATASETS.build(cfg["dataset"] | {"transforms": None})[index][0]
        )
    assert 0 < flips < 6  # the transform really is random


def test_a_seeded_sample_draws_what_torch_manual_seed_gives():
    """SeededDataset seeds the CPU generator directly (torch.manual_seed's lazy seeding of
    CUDA/XPU/MTIA costs ~0.5 ms a sample): the draws are those of torch.manual_seed."""
    import random

    import numpy as np

    from detplug_core.data.samplers import SeededDataset

    class Draws(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int):
            return random.random(), float(np.random.rand()), torch.rand(3), torch.randperm(9)

    for seed in (0, 7, 2**32 - 1):
        got = SeededDataset(Draws())[(1, seed)]
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        expected = Draws()[1]
        assert got[:2] == expected[:2]
        assert torch.equal(got[2], expected[2]) and torch.equal(got[3], expected[3])


def test_batch_sampler_from_samplers_gets_the_arguments_it_accepts(toy):
    from detplug_core import SAMPLERS

    seen = {}

    class PairsBySize:
        def __init__(self, sampler, batch_size, dataset):
            seen.update(batch_size=batch_size, n=len(dataset))
            self.sampler = sampler

        def __iter__(self):
            indices = list(self.sampler)
            return iter([indices[i : i + 3] for i in range(0, len(indices), 3)])

        def __len__(self):
            return 2

    cfg = {
        "batch_size": 3,
        "batch_sampler": {"type": PairsBySize},
        "dataset": {"type": "ToyShapes", "num_images": 6},
    }
    built = build_dataloader(cfg, "train_dataloader", train=True, seed=0)
    assert seen == {"batch_size": 3, "n": 6}
    assert sorted(_order(built, 0)) == list(range(6))
    assert SAMPLERS is not None


def test_eval_shards_cover_every_sample_once_and_bad_keys_are_named(toy):
    assert list(ShardSampler(7, 0, 2)) == [0, 2, 4, 6] and list(ShardSampler(7, 1, 2)) == [1, 3, 5]
    with pytest.raises(ConfigError, match=r"val_dataloader.shuffle: unknown dataloader option"):
        build_dataloader(
            {"shuffle": True, "dataset": {"type": "ToyShapes"}},
            "val_dataloader",
            train=False,
            seed=0,
        )
    with pytest.raises(
        ConfigError, match=r"train_dataloader.bach_size: .*did you mean 'batch_size'"
    ):
        build_dataloader(
            {"bach_size": 2, "dataset": {"type": "ToyShapes"}},
            "train_dataloader",
            train=True,
            seed=0,
        )
    assert TRANSFORMS.get("ToyResize")
