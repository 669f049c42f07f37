"""A tiny real model, dataset and metric for the hook tests (scope ``hookstest``).

Loaded per test with the ``detplug_plugin`` fixture (``load_module("hooks_testkit")``), so
the components exist only for that test. Everything runs on CPU in well under a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

import detplug_core
from detplug_core import Hook

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="hookstest")
DATASETS = detplug_core.Registry("datasets", parent=detplug_core.DATASETS, scope="hookstest")
METRICS = detplug_core.Registry("metrics", parent=detplug_core.METRICS, scope="hookstest")
HOOKS = detplug_core.Registry("hooks", parent=detplug_core.HOOKS, scope="hookstest")


@DATASETS.register()
class TinyDataset(torch.utils.data.Dataset):
    """``num_images`` random RGB images of ``size`` pixels, one box each (class 0 or 1)."""

    classes = ["square", "blob"]

    def __init__(self, num_images: int = 8, size: int = 16, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(num_images, 3, size, size, generator=g)
        corners = torch.randint(0, size // 2, (num_images, 2), generator=g).float()
        self.boxes = torch.cat([corners, corners + size / 2], dim=1)
        self.labels = torch.randint(0, 2, (num_images,), generator=g)
        self.size = size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        target = {
            "boxes": self.boxes[i : i + 1].clone(),
            "labels": self.labels[i : i + 1].clone(),
            "image_id": i,
            "orig_size": (self.size * 2, self.size * 2),  # as if resized to half on load
        }
        return self.images[i].clone(), target


@MODELS.register()
class TinyDetector(nn.Module):
    """One box per image from the mean colour; ``nan_at`` makes training call number
    ``nan_at`` return a NaN ``loss_box`` (for the invalid-loss check)."""

    def __init__(self, num_classes: int = 2, nan_at: int | None = None) -> None:
        super().__init__()
        self.net = nn.Linear(3, 4 + num_classes)
        self.norm = nn.BatchNorm1d(3)  # a float buffer and an int buffer for the EMA
        self.nan_at = nan_at
        self.calls = 0

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None) -> Any:
        feats = self.norm(torch.stack([img.mean(dim=(1, 2)) for img in images]))
        out = self.net(feats)
        sizes = torch.tensor([[img.shape[-1], img.shape[-2]] * 2 for img in images]).float()
        if self.training:
            self.calls += 1
            gt = torch.stack([t["boxes"][0] for t in targets]) / sizes
            labels = torch.stack([t["labels"][0] for t in targets])
            loss_box = F.l1_loss(out[:, :4].sigmoid(), gt)
            if self.nan_at is not None and self.calls >= self.nan_at:
                loss_box = loss_box * float("nan")
            return {"loss_cls": F.cross_entropy(out[:, 4:], labels), "loss_box": loss_box}
        probs = out[:, 4:].softmax(-1)
        boxes = out[:, :4].sigmoid().sort(-1).values[:, [0, 1, 2, 3]] * sizes
        return [
            {"boxes": b[None], "scores": p.max()[None], "labels": p.argmax()[None]}
            for b, p in zip(boxes, probs, strict=True)
        ]


@METRICS.register()
class SequenceMetric:
    """Reports ``values[k]`` as ``mAP`` at its k-th evaluation (then the last value)."""

    prefix = "seq"

    def __init__(self, classes: list[str], values: list[float] = (0.5,)) -> None:
        self.classes = classes
        self.values = list(values)
        self.evaluations = 0
        self.images = 0

    def reset(self) -> None:
        self.images = 0

    def update(self, predictions: list[dict], targets: list[dict]) -> None:
        self.images += len(predictions)

    def compute(self) -> dict[str, float]:
        value = self.values[min(self.evaluations, len(self.values) - 1)]
        self.evaluations += 1
        return {"mAP": float(value), "images": float(self.images)}

    def per_class(self) -> list[dict]:
        return []


@HOOKS.register()
class StopAtHook(Hook):
    """Stops training after ``iteration`` iterations (to cut a run short for resuming)."""

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any, outputs: dict):
        if runner.iter == self.iteration:
            runner.stop_training = True


def tiny_config(work_dir: Path, hooks: list[dict], **overrides: Any) -> dict[str, Any]:
    """An iteration-based CPU run: 8 train images in batches of 2, 4 val images."""
    cfg: dict[str, Any] = {
        "model": {"type": "hookstest.TinyDetector"},
        "train_dataloader": {
            "batch_size": 2,
            "num_workers": 0,
            "dataset": {"type": "hookstest.TinyDataset", "num_images": 8},
        },
        "val_dataloader": {
            "batch_size": 2,
            "num_workers": 0,
            "dataset": {"type": "hookstest.TinyDataset", "num_images": 4, "seed": 1},
        },
        "metrics": [{"type": "hookstest.SequenceMetric", "values": [0.5]}],
        "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9},
        "train": {"by_epoch": False, "max_iters": 6, "val_interval": 3, "log_interval": 2},
        "checkpoint": {"interval": 0},
        "hooks": hooks,
        "work_dir": str(work_dir),
        "seed": 0,
        "deterministic": True,
        "device": "cpu",
    }
    cfg.update(overrides)
    return cfg


def run_training(cfg: dict[str, Any]) -> Any:
    """Train ``cfg`` with a real Runner; returns the (closed) runner."""
    from detplug_core import Runner

    with Runner(cfg) as runner:
        runner.train()
    return runner


def config_hook(runner: Any, cls: type) -> Any:
    """The config hook of class ``cls`` in ``runner``."""
    return next(h for h in runner.hooks.hooks if isinstance(h, cls))


@HOOKS.register()
class ProbeHook(Hook):
    """Copies the model's weights before validation, at its first batch and after it."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.before: list[dict[str, torch.Tensor]] = []
        self.during: list[dict[str, torch.Tensor]] = []
        self.after: list[dict[str, torch.Tensor]] = []
        self.during_test: list[dict[str, torch.Tensor]] = []

    @staticmethod
    def _copy(runner: Any) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in runner.model.state_dict().items()}

    def before_val(self, runner: Any) -> None:
        self.before.append(self._copy(runner))

    def before_val_iter(self, runner: Any, batch_idx: int, data_batch: Any) -> None:
        if batch_idx == 0:
            self.during.append(self._copy(runner))

    def after_val(self, runner: Any) -> None:
        self.after.append(self._copy(runner))

    def before_test_iter(self, runner: Any, batch_idx: int, data_batch: Any) -> None:
        if batch_idx == 0:
            self.during_test.append(self._copy(runner))
