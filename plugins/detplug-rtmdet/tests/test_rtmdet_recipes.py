"""The packaged recipes: listed, their models build and train a step; the plugin loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from detplug_torchvision.testing.synthetic import rectangles_dataset

from detplug_core import MODELS
from detplug_core.cli.main import cli
from detplug_core.config import load_config

RECIPES = [
    "rtmdet::rtmdet_tiny_shapes.yaml",
    "rtmdet::rtmdet_tiny_8xb32-300e_coco.yaml",
    "rtmdet::models/rtmdet_tiny.yaml",
    "rtmdet::models/rtmdet_s.yaml",
    "rtmdet::models/rtmdet_m.yaml",
    "rtmdet::models/rtmdet_l.yaml",
    "rtmdet::models/rtmdet_x.yaml",
]


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def test_plugin_and_configs_are_listed() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    plugins = {p["name"]: p for p in json.loads(result.output)}
    assert plugins["rtmdet"]["status"] == "loaded"
    assert plugins["rtmdet"]["distribution"] == "detplug-rtmdet"
    result = runner.invoke(cli, ["configs", "rtmdet"])
    assert result.exit_code == 0, result.output
    listed = result.output
    for recipe in RECIPES:
        assert recipe in listed


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_model_builds_and_trains_a_step(recipe: str) -> None:
    cfg = load_config(recipe)["model"]
    cfg["head"]["num_classes"] = 3
    model = MODELS.build(cfg).train()
    images, targets = rectangles_dataset(num_images=2, size=64)
    losses = model(images, targets)
    assert set(losses) == {"loss_cls", "loss_bbox"}
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())


def test_coco_recipe_states_the_paper_settings() -> None:
    cfg = load_config("rtmdet::rtmdet_tiny_8xb32-300e_coco.yaml")
    assert cfg["train"]["max_epochs"] == 300 and cfg["train_dataloader"]["batch_size"] == 32
    assert cfg["optimizer"]["type"] == "AdamW" and cfg["optimizer"]["lr"] == 0.004
    assert cfg["model"]["backbone"]["init"] is None  # pretrained weights are optional
    hooks = [h["type"] for h in cfg["hooks"]]
    assert hooks == ["torchvision.PipelineSwitchHook", "hooks.EMAHook"]
    assert cfg["model"]["postprocess"]["nms_thresh"] == 0.65


@pytest.mark.slow
def test_shapes_recipe_trains_from_the_cli(tmp_path) -> None:
    _cli(
        "train", "rtmdet::rtmdet_tiny_shapes.yaml", "train.max_iters=4", "train.val_interval=4",
        "train.log_interval=2", "+val_dataloader.dataset.num_images=16", "+train_dataloader.dataset.num_images=32",
        "hooks=[]", f"+train_dataloader.dataset.cache_dir={tmp_path}",
        f"+val_dataloader.dataset.cache_dir={tmp_path}",
        "--work-dir", str(tmp_path),
    )  # fmt: skip
    metrics = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["iter"] == 4 and "coco/mAP" in metrics[-1]
