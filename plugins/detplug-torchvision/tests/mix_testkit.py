"""A tiny dataset, model and probe hook for the multi-image tests (scope ``mixtest``).

Loaded per test with the ``detplug_plugin`` fixture (``load_module("mix_testkit")``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from mix_samples import SIZES, painted_sample
from torch import nn

import detplug_core
from detplug_core import Hook

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="mixtest")
DATASETS = detplug_core.Registry("datasets", parent=detplug_core.DATASETS, scope="mixtest")
HOOKS = detplug_core.Registry("hooks", parent=detplug_core.HOOKS, scope="mixtest")


@DATASETS.register()
class PaintedDataset(torch.utils.data.Dataset):
    """``num_images`` images of the sizes in SIZES (cycled), one or two painted boxes
    each; classes ``c0..c7``; optional per-sample ``transforms`` (configs or callable)."""

    classes = [f"c{i}" for i in range(8)]

    def __init__(self, num_images: int = 8, transforms: Any = None) -> None:
        from detplug_torchvision.datasets import build_pipeline

        self.num_images = num_images
        self.transforms = build_pipeline(transforms)

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int):
        h, w = SIZES[index % len(SIZES)]
        boxes = [[2, 3, w // 2, h // 2]] + (
            [[w // 2 + 1, h // 2, w - 1, h - 2]] if index % 2 else []
        )
        image, target = painted_sample(index % 6, h, w, boxes)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target


@MODELS.register()
class TinyMixModel(nn.Module):
    """A few weights trained on the images' channel means and the boxes' mean corner;
    works with any number of boxes per image (also none)."""

    def __init__(self, num_classes: int = 8) -> None:
        super().__init__()
        self.net = nn.Linear(3, 4)

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None) -> Any:
        feats = torch.stack([img.float().mean(dim=(1, 2)) for img in images])
        out = self.net(feats)
        if self.training:
            goal = torch.stack(
                [
                    t["boxes"].as_subclass(torch.Tensor).mean(0) / max(img.shape[-1], img.shape[-2])
                    if len(t["boxes"])
                    else torch.zeros(4)
                    for t, img in zip(targets, images, strict=True)
                ]
            )
            return {"loss_box": (out - goal).pow(2).mean()}
        return [
            {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0).long()}
            for _ in images
        ]


@HOOKS.register()
class ShapeProbe(Hook):
    """Records ``(epoch, iter, [(shape, dtype) of each image])`` of every training batch:
    the dtype tells the stage (float32: ``transforms``, float64: ``switch_transforms``)."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, list]] = []

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any) -> None:
        images = data_batch[0]
        self.seen.append(
            (runner.epoch, runner.iter, [(tuple(i.shape), str(i.dtype)) for i in images])
        )


@HOOKS.register()
class StopAt(Hook):
    """Stops training after ``iteration`` iterations (to cut a run short for resuming)."""

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any, outputs: dict):
        if runner.iter == self.iteration:
            runner.stop_training = True


def pipeline(size: int = 16) -> dict[str, Any]:
    """A MultiImageMixDataset config: mosaic + mixup, then without them."""
    tail = [
        {"type": "RandomCropUpTo", "size": size},
        {"type": "SanitizeBoxes"},
        {"type": "RandomHorizontalFlip", "p": 0.5},
        {"type": "PadTo", "size": size},
    ]
    return {
        "type": "MultiImageMixDataset",
        "dataset": {"type": "mixtest.PaintedDataset", "num_images": 8},
        "transforms": [
            {"type": "Mosaic", "size": size},
            {"type": "RandomScale", "scale": 2 * size, "ratio_range": [0.5, 1.5]},
            *tail,
            {"type": "MixUp", "size": size, "ratio_range": [0.8, 1.2], "p": 0.5},
            {"type": "SanitizeBoxes"},
            {"type": "ToFloatImage"},
        ],
        "switch_transforms": [
            {"type": "RandomScale", "scale": size, "ratio_range": [0.5, 1.5]},
            *tail[:-1],
            {"type": "ToDtype", "dtype": "float64", "scale": True},  # marks stage 1
        ],
    }


def tiny_config(work_dir: Path, hooks: list[dict], **overrides: Any) -> dict[str, Any]:
    """Epoch-based, 3 epochs of 4 batches of 2, two persistent workers; switch for the last
    epoch."""
    cfg: dict[str, Any] = {
        "model": {"type": "mixtest.TinyMixModel"},
        "train_dataloader": {
            "batch_size": 2,
            "num_workers": 2,
            "persistent_workers": True,
            "dataset": pipeline(),
        },
        "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9},
        "train": {"by_epoch": True, "max_epochs": 3, "log_interval": 100},
        "checkpoint": {"interval": 0},
        "hooks": [{"type": "PipelineSwitchHook", "last_epochs": 1}, *hooks],
        "work_dir": str(work_dir),
        "seed": 0,
        "deterministic": True,
        "device": "cpu",
    }
    cfg.update(overrides)
    return cfg


def run_training(cfg: dict[str, Any]) -> Any:
    from detplug_core import Runner

    with Runner(cfg) as runner:
        runner.train()
    return runner


def config_hook(runner: Any, cls: type) -> Any:
    return next(h for h in runner.hooks.hooks if isinstance(h, cls))
