"""``detplug data check CONFIG_OR_PATH`` and ``detplug data show CONFIG_OR_PATH``.

CONFIG_OR_PATH is a data set a plugin recognises (as ``--data`` does: a YOLO data.yaml, a
COCO JSON, a VOC folder) or a training config, whose dataloaders' datasets are read.
``check`` prints per split: image and box counts, boxes per class, box size and aspect
histograms, images without boxes, what the loader fixed or skipped, and every image the
loader would refuse; with ``--decode`` and a data set with instance masks (``with_masks:
true``), the mask count, empty masks, a mask size histogram and every image whose masks
the loader would refuse; it writes ``labels.png``. ``show`` draws a few images with their
boxes (and masks).
A data set the loaders refuse at construction is exit 2 with the loader's message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from detplug_core.errors import DataError

_SECTIONS = (("train", "train_dataloader"), ("val", "val_dataloader"), ("test", "test_dataloader"))


def split_configs(target: str, image_dir: str | None, overrides: tuple[str, ...]) -> dict:
    """``{split: dataset config}`` of a data path or of a config's dataloaders."""
    from detplug_core.data.source import find_data_source, recognise_data_source

    if "::" not in target and not os.path.isfile(target):
        return dict(find_data_source(target, image_dir).splits)  # as train --data says
    source = recognise_data_source(target, image_dir) if os.path.isfile(target) else None
    if source is not None:
        return dict(source.splits)
    from detplug_core.config import load_config

    cfg = load_config(target, list(overrides))
    splits = {}
    for split, key in _SECTIONS:
        section = cfg.get(key)
        if section and section.get("dataset"):
            splits[split] = section["dataset"]
    if not splits:
        raise DataError(
            f"'{target}' is neither a data set a plugin recognises (a YOLO data.yaml, a COCO "
            "JSON, a VOC folder) nor a config with datasets in train_dataloader, "
            "val_dataloader or test_dataloader"
        )
    return splits


def build_splits(splits: dict) -> list[tuple[str, Any]]:
    """Each distinct split's dataset, built without transforms (the loaders' own parsing)."""
    from detplug_core.registry import DATASETS

    built, seen = [], []
    for split, cfg in splits.items():
        if cfg in seen:
            continue
        seen.append(cfg)
        plain = _without_image_scan(_without_transforms(cfg), DATASETS)
        built.append((split, DATASETS.build(plain, path=f"{split}.dataset")))
    return built


def _without_image_scan(cfg: Any, registry: Any) -> Any:
    """The config with the datasets' own bad-image scan off where they have one: the check
    lists every image the loaders would refuse (``scan_images``) instead of stopping at the
    first one when the dataset is built."""
    import inspect

    if not isinstance(cfg, dict):
        return cfg
    out = {k: _without_image_scan(v, registry) if k == "dataset" else v for k, v in cfg.items()}
    if "datasets" in cfg:
        out["datasets"] = [_without_image_scan(d, registry) for d in cfg["datasets"]]
    kind = cfg.get("type")
    cls = registry.get(kind) if isinstance(kind, str) else kind
    if cls is not None and "scan_images" in inspect.signature(cls).parameters:
        out["scan_images"] = False
    return out


def with_masks(splits: dict) -> dict:
    """The split configs with every leaf dataset (inside Repeat/Concat wrappers) loading
    instance masks (``with_masks: true``), for ``--masks``."""

    def leaves(cfg: Any) -> Any:
        if not isinstance(cfg, dict):
            return cfg
        if "dataset" in cfg:
            return {**cfg, "dataset": leaves(cfg["dataset"])}
        if "datasets" in cfg:
            return {**cfg, "datasets": [leaves(d) for d in cfg["datasets"]]}
        return {**cfg, "with_masks": True}

    return {split: leaves(cfg) for split, cfg in splits.items()}


def _without_transforms(cfg: Any) -> Any:
    if not isinstance(cfg, dict):
        return cfg
    out = {k: _without_transforms(v) for k, v in cfg.items() if k != "transforms"}
    if "datasets" in cfg:
        out["datasets"] = [_without_transforms(d) for d in cfg["datasets"]]
    return out


@click.group("data")
def data_group() -> None:
    """Inspect a data set: counts, problems, labels.png, images with their boxes."""


_target = click.argument("target", metavar="CONFIG_OR_PATH")
_overrides = click.argument("overrides", nargs=-1)
_images = click.option("--data-images", metavar="DIR", help="The image folder of a COCO JSON.")
_masks = click.option(
    "--masks",
    is_flag=True,
    help="Load instance masks (with_masks: true), also where the data set or config does "
    "not ask for them.",
)


@data_group.command("check")
@_target
@_overrides
@_images
@_masks
@click.option("--out", default="data_check", show_default=True, help="Folder for labels.png.")
@click.option(
    "--decode",
    is_flag=True,
    help="Decode every image, and load every instance mask of a data set with masks "
    "(default: the loaders' scan, which decodes files that look truncated or are not "
    "JPEG/PNG).",
)
def check(
    target: str,
    overrides: tuple[str, ...],
    data_images: str | None,
    masks: bool,
    out: str,
    decode: bool,
) -> None:
    """Counts, histograms and problems per split; writes OUT/labels.png."""
    from detplug_hooks.data_stats import collect_stats, format_stats, scan_images, scan_masks
    from detplug_hooks.plots.labels import plot_labels

    problems = 0
    splits = split_configs(target, data_images, overrides)
    for n, (split, dataset) in enumerate(build_splits(with_masks(splits) if masks else splits)):
        stats = collect_stats(dataset, split)
        stats.problems = scan_images(dataset, decode=decode)
        if decode and stats.with_masks:
            stats.masks, mask_problems = scan_masks(dataset)
            stats.problems += mask_problems
        problems += len(stats.problems)
        click.echo(format_stats(stats))
        if n == 0:  # the train split (the first one a data set or config has)
            path = plot_labels(
                stats.boxes, stats.labels, stats.image_sizes, stats.classes,
                Path(out) / "labels.png", title=f"{target} ({split})",
            )  # fmt: skip
            click.echo(f"wrote {path}")
    if problems:
        raise DataError(f"{problems} images would be refused by the loaders (listed above)")


@data_group.command("show")
@_target
@_overrides
@_images
@_masks
@click.option("--out", default="data_show", show_default=True, help="Folder for the PNGs.")
@click.option("--split", default="train", show_default=True, help="Which split to draw.")
@click.option("--num", default=8, show_default=True, help="How many images.")
def show(
    target: str,
    overrides: tuple[str, ...],
    data_images: str | None,
    masks: bool,
    out: str,
    split: str,
    num: int,
) -> None:
    """Draw NUM images of SPLIT with their boxes and class names into OUT/ (and their
    instance masks, filled, when the dataset loads them: with_masks: true)."""
    import torch

    from detplug_hooks.drawing import draw_detections

    splits = split_configs(target, data_images, overrides)
    splits = with_masks(splits) if masks else splits
    if split not in splits:
        raise DataError(f"--split {split}: the data has splits {', '.join(splits)}")
    from detplug_torchvision.datasets import SampleError

    (_, dataset), *_ = build_splits({split: splits[split]})
    Path(out).mkdir(parents=True, exist_ok=True)
    step = max(1, len(dataset) // max(num, 1))
    drawn = 0
    for i in dict.fromkeys([*range(0, len(dataset), step), *range(len(dataset))]):
        if drawn == num:
            break
        try:
            image, target_ = dataset.load_raw(i)
        except SampleError as err:  # a truncated or corrupt file: the next image instead
            click.echo(f"skipped {dataset.describe(i)}: {err}")
            continue
        drawn += 1
        none = torch.zeros(0)
        picture = draw_detections(
            image, target_["boxes"], target_["labels"], torch.zeros(0, 4), none, none,
            classes=dataset.classes, min_side=256, gt_masks=target_.get("masks"),
        )  # fmt: skip
        stem = Path(str(target_["file_name"])).stem
        path = Path(out) / f"{split}_{i:05d}_{stem}.png"
        picture.save(path)
        click.echo(f"wrote {path}")
