"""The validation images of a checkpoint's config, as an exported model sees them.

Export checks and int8 calibration read real images rather than noise: the config's test
(else validation) dataset is built with its transforms removed, so each image is the
uint8 ``[3, H, W]`` picture as stored, and its ground truth is in that picture's pixels.
A model exported from it (which resizes inside the graph) then predicts on exactly what a
user would give it, and the config's own metrics score the predictions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from detplug_core.errors import DetplugError

Predict = Callable[[Tensor], tuple[Any, ...]]


@dataclass
class ValidationSet:
    """The raw images of a config's eval dataset and the config's metrics."""

    dataset: Any
    metrics_cfg: list
    where: str

    def __len__(self) -> int:
        return len(self.dataset)

    def images(self, limit: int | None = None) -> Iterator[Tensor]:
        """uint8 ``[3, H, W]`` images, the first ``limit`` (all: None)."""
        for index in _indices(len(self), limit):
            yield self.dataset[index][0].as_subclass(Tensor)

    def evaluate(self, predict: Predict, limit: int | None = None) -> dict[str, float]:
        """The config's metrics (``prefix/key`` -> value) of ``predict`` (one uint8 image ->
        boxes, scores, labels, and a mask model's masks [K, H, W] in the image's pixels)
        over the first ``limit`` images."""
        from detplug_core.runner.builders import build_metrics

        metrics, prefixes = build_metrics(self.metrics_cfg, self.dataset, "validation")
        if not metrics:
            raise DetplugError(f"{self.where}: the config names no metrics to score with")
        for metric in metrics:
            metric.reset()
        for index in _indices(len(self), limit):
            image, target = self.dataset[index]
            boxes, scores, labels, *masks = predict(image.as_subclass(Tensor))
            pred = {
                "boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "scores": torch.as_tensor(scores, dtype=torch.float32).reshape(-1),
                "labels": torch.as_tensor(labels, dtype=torch.int64).reshape(-1),
            }
            if masks:  # [K, H, W] 0/1 in the image's pixels
                pred["masks"] = torch.as_tensor(masks[0])
            gt = dict(target)
            gt["boxes"] = torch.as_tensor(gt["boxes"]).as_subclass(Tensor).float()
            for metric in metrics:
                metric.update([pred], [gt])
        results = {}
        for prefix, metric in zip(prefixes, metrics, strict=True):
            results.update({f"{prefix}/{k}": float(v) for k, v in metric.compute().items()})
        return results


def _indices(total: int, limit: int | None) -> range:
    return range(total if limit is None else min(total, limit))


def validation_set(cfg: Mapping) -> ValidationSet:
    """The eval dataset of ``cfg`` (``test_dataloader``, else ``val_dataloader``) without
    transforms. Raises a :class:`DetplugError` naming the section when it cannot be built
    (no such section, data missing on this machine)."""
    from detplug_core import DATASETS

    key = "test_dataloader" if cfg.get("test_dataloader") else "val_dataloader"
    loader = cfg.get(key)
    if not isinstance(loader, Mapping) or not isinstance(loader.get("dataset"), Mapping):
        raise DetplugError("the config has no val_dataloader or test_dataloader dataset")
    dataset_cfg = _without_transforms(loader["dataset"])
    try:
        dataset = DATASETS.build(dataset_cfg, path=f"{key}.dataset")
    except DetplugError as err:
        raise DetplugError(f"{key}.dataset cannot be built here: {err}") from None
    if len(dataset) == 0:
        raise DetplugError(f"{key}.dataset is empty")
    return ValidationSet(dataset, list(cfg.get("metrics") or []), f"{key}.dataset")


def _without_transforms(dataset_cfg: Mapping) -> dict:
    """A copy of a dataset config whose transforms (through wrappers) are all removed."""
    out = copy.deepcopy(dict(dataset_cfg))
    _strip(out)
    return out


def _strip(node: dict) -> None:
    if "transforms" in node:
        node["transforms"] = []
    for inner in [node.get("dataset"), *(node.get("datasets") or [])]:
        if isinstance(inner, dict):
            _strip(inner)
