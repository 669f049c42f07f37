"""A detector plugin's packaged recipes, as its tests check them: they load with their
``_base_`` files, describe the model they claim, and a CI-sized ``detplug train`` of the
shapes recipe learns. Configs are named ``SCOPE::path``, so the tests read what the wheel
ships, never the repository's ``configs/`` folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

# The shapes recipe shrunk to 8 training images of 96 px and 30 epochs of 2 iterations,
# evaluated on those same images: the run checks that the whole path learns, not that
# the model generalises. imgsz: the recipes resize their val images to it; 96 keeps them
# at the size the model trains on.
SHAPES_CI_RUN = """
_base_: {base}
imgsz: 96
train_dataloader:
  batch_size: 4
  num_workers: 0
  persistent_workers: false
  dataset: {{num_images: 8, image_size: 96, cache_dir: {cache}, transforms: [{{type: ToFloatImage}}]}}
val_dataloader:
  batch_size: 8
  num_workers: 0
  persistent_workers: false
  dataset: {{split: train, num_images: 8, image_size: 96, cache_dir: {cache}}}
optimizer: {{lr: 0.002}}
param_schedulers:
  - {{type: LinearWarmup, start_factor: 0.001, end: 20, by_epoch: false}}
  - {{type: MultiStep, milestones: [24], gamma: 0.1, by_epoch: true}}
train: {{max_epochs: 30, val_interval: 30, log_interval: 10}}
checkpoint: {{interval: 0, keep_last: 1, save_best: null}}
"""


def train_on_shapes(config: str, folder: Path) -> tuple[list[dict], dict[str, float]]:
    """Train the shapes recipe ``config`` (``SCOPE::path``) as :data:`SHAPES_CI_RUN` in a
    fresh ``detplug train`` process on the CPU, in ``folder``; returns the logged scalars
    (one dict per logging step) and the last evaluation's metrics."""
    folder = Path(folder)
    run = folder / "shapes_ci.yaml"
    run.write_text(SHAPES_CI_RUN.format(base=config, cache=folder / "cache"))
    work_dir = folder / "work"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DETPLUG_")}
    command = [sys.executable, "-m", "detplug_core.cli.main", "train", str(run)]
    res = subprocess.run(
        [*command, "--work-dir", str(work_dir), "--device", "cpu"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    scalars = [json.loads(line) for line in (work_dir / "scalars.jsonl").read_text().splitlines()]
    metrics = json.loads((work_dir / "metrics.jsonl").read_text().splitlines()[-1])
    return scalars, metrics


def assert_learns_on_shapes(
    config: str, folder: Path, min_ap50: float = 0.6, min_map: float = 0.3
) -> None:
    """:func:`train_on_shapes`: the loss at least halves, and the COCO AP@0.5 and mAP on
    the training images are well above chance."""
    scalars, metrics = train_on_shapes(config, folder)
    assert scalars[-1]["loss"] < 0.5 * scalars[0]["loss"], scalars
    assert metrics["coco/AP50"] > min_ap50, metrics
    assert metrics["coco/mAP"] > min_map, metrics


def assert_recipe_loads(
    config: str, model_type: str, num_classes_at: str, num_classes: Any
) -> dict:
    """Packaged ``config`` loads with its bases: its model is ``model_type`` with
    ``num_classes`` at ``model.<num_classes_at>.num_classes``, it evaluates (loader and
    metrics), and, unless it is a ``_tv`` config (for converted weights), it trains."""
    from detplug_core.config import load_config

    cfg = load_config(config)
    assert cfg["model"]["type"] == model_type
    assert cfg["model"][num_classes_at]["num_classes"] == num_classes
    assert {"val_dataloader", "metrics"} <= set(cfg)
    if not config.endswith("_tv.yaml"):
        assert {"train_dataloader", "optimizer", "param_schedulers"} <= set(cfg)
    return cfg


def tv_recipe_model(
    tv_config: str,
    base_config: str,
    backbone: Mapping[str, Any],
    output_only: Mapping[str, Any] | None = None,
) -> dict:
    """The model of the ``_tv`` recipe (torchvision's architecture, for converted weights):
    exactly that of ``base_config`` (the one the equivalence tests build), on a frozen-BN
    ResNet-50 with torchvision's ``backbone`` settings besides; returned for the plugin's
    own checks of its neck and heads. ``output_only`` names the parts (dotted keys) where
    the recipe may differ from the base in how it hands its results over, not in weights or
    numbers (e.g. Mask R-CNN's masks left on their box grids for the metric to paste), with
    the value the recipe must give them."""
    import copy

    from detplug_core.config import load_config

    model = load_config(tv_config)["model"]
    base = copy.deepcopy(load_config(base_config)["model"])
    for dotted, value in (output_only or {}).items():
        *parents, last = dotted.split(".")
        here, there = model, base
        for key in parents:
            here, there = here[key], there[key]
        assert here[last] == value, f"{tv_config}: {dotted} is {here[last]!r}, not {value!r}"
        there[last] = value
    assert model == base
    expected = {"type": "torchvision.ResNet", "depth": 50, "frozen_stages": 1}
    assert model["backbone"] == {**expected, "norm": "FrozenBN", "init": None, **backbone}
    return model


def build_shapes_model(config: str) -> nn.Module:
    """The model of shapes recipe ``config`` for the three shape classes, its
    ``num_classes: auto`` resolved from ``data.classes`` (as ``--data`` writes it)."""
    from detplug_core import MODELS
    from detplug_core.config import load_config
    from detplug_core.data.num_classes import resolve_num_classes

    cfg = load_config(config, ["+data.classes=[rectangle,ellipse,triangle]"])
    resolve_num_classes(cfg)
    return MODELS.build(cfg["model"])


#: ``detplug train`` overrides that cut a recipe that trains by iterations to 2 iterations
#: and one evaluation, in the test's process budget (no workers, no checkpoints).
TWO_ITERATIONS = (
    "train.max_iters=2",
    "train.val_interval=2",
    "train.log_interval=1",
    "checkpoint.interval=0",
    "checkpoint.save_best=null",
    "train_dataloader.batch_size=2",
    "train_dataloader.num_workers=0",
    "train_dataloader.persistent_workers=false",
    "val_dataloader.num_workers=0",
    "val_dataloader.persistent_workers=false",
)


def train_two_iterations(
    recipe: str, data: str | Path, work_dir: Path, *overrides: str, imgsz: int = 64
) -> tuple[list[dict], dict[str, float]]:
    """``detplug train RECIPE --data DATA --imgsz IMGSZ`` cut to :data:`TWO_ITERATIONS`
    (plus ``overrides``) in a fresh process on the CPU, as a user runs a recipe on their own
    data; returns the training steps' logged scalars and the last evaluation's metrics."""
    work_dir = Path(work_dir)
    command = [sys.executable, "-m", "detplug_core.cli.main", "train", recipe]
    command += ["--data", str(data), "--imgsz", str(imgsz)]
    command += ["--work-dir", str(work_dir), "--device", "cpu", *TWO_ITERATIONS, *overrides]
    res = subprocess.run(
        command,
        cwd=work_dir.parent,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DETPLUG_PROGRESS": "lines", "OMP_NUM_THREADS": "1"},
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    lines = (work_dir / "scalars.jsonl").read_text().splitlines()
    train = [s for s in map(json.loads, lines) if s.get("mode") == "train"]
    metrics = json.loads((work_dir / "metrics.jsonl").read_text().splitlines()[-1])
    return train, metrics
