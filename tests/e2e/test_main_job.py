"""The main job, shortened, through the CLI from a fresh work dir: train FCOS on generated
shapes, then `detplug test` and `detplug infer` on the result.

Shortened means fewer images, smaller batches and fewer iterations; the config, the
model, the data path and every output are the real main job's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
CONFIG = "fcos::fcos_r18_fpn_shapes.yaml"  # the packaged recipe, as a user names it
SHORT = [
    "+train_dataloader.dataset.num_images=160",
    "+val_dataloader.dataset.num_images=40",
    "train_dataloader.batch_size=4",
    "train_dataloader.num_workers=1",
    "val_dataloader.num_workers=1",
    "train.max_iters=160",
    "train.val_interval=80",
    "train.log_interval=20",
    "checkpoint.interval=80",
    "param_schedulers.0.end=20",
]


def detplug(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "DETPLUG_PROGRESS": "lines", **(env or {})},
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("main_job") / "work"
    res = detplug("train", str(CONFIG), *SHORT, "--work-dir", str(work), cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return work


@pytest.mark.slow
def test_every_promised_output_file_exists(trained):
    for name in ("config.yaml", "log.txt", "scalars.jsonl", "metrics.jsonl", "results.csv",
                 "latest.pth", "best_coco_mAP.pth", "iter_80.pth", "iter_160.pth",
                 "curves.png", "val_pr_curve.png", "val_confusion_matrix.png",
                 "val_confusion_matrix.json"):  # fmt: skip
        assert (trained / name).is_file(), name
    previews = sorted((trained / "previews").glob("*.png"))
    assert len(previews) >= 4
    saved = yaml.safe_load((trained / "config.yaml").read_text())
    assert saved["model"]["type"] == "fcos.FCOS" and saved["train"]["max_iters"] == 160
    log = (trained / "log.txt").read_text()
    assert "Iter [160/160]" in log and "loss_cls" in log


@pytest.mark.slow
def test_map_is_well_above_chance(trained):
    evals = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    last = evals[-1]
    # Chance on this set is ~0.000 (random boxes almost never reach IoU 0.5 with the right
    # class). 160 short iterations from scratch measured AP50 0.32, mAP 0.14 here.
    assert last["coco/AP50"] > 0.15, last
    assert last["coco/mAP"] > 0.05, last
    losses = [json.loads(line) for line in (trained / "scalars.jsonl").read_text().splitlines()]
    train = [r["loss"] for r in losses if r.get("mode") == "train"]
    assert train[-1] < train[0]


@pytest.mark.slow
def test_test_command_on_the_checkpoint_alone(trained, tmp_path):
    out = tmp_path / "results.json"
    res = detplug("test", str(trained / "latest.pth"), "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "coco/mAP" in res.stdout
    for name in ("rectangle", "ellipse", "triangle"):
        assert name in res.stdout  # the per-class table
    results = json.loads(out.read_text())
    assert results["metrics"]["coco/AP50"] > 0.1
    for name in ("test_pr_curve.png", "test_confusion_matrix.png"):  # beside the checkpoint
        assert (trained / name).is_file(), name


@pytest.mark.slow
def test_infer_draws_and_writes_predictions(trained, tmp_path):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (300, 200), (40, 40, 40)).save(images / "dark.jpg")
    Image.new("L", (90, 140), 200).save(images / "grey.png")
    Image.new("RGBA", (128, 128), (10, 200, 30, 128)).save(images / "rgba.png")
    val_png = next((trained / "previews").glob("*.png"))
    out = tmp_path / "out"
    res = detplug("infer", str(trained / "latest.pth"), str(images), str(val_png),
                  "--out-dir", str(out), "--score-thr", "0.2", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    for name in ("dark.png", "grey.png", "rgba.png", val_png.name):
        assert (out / name).is_file()
    assert Image.open(out / "dark.png").size == (300, 200)
    preds = json.loads((out / "predictions.json").read_text())
    assert {"image_id", "file_name", "category_id", "category", "bbox", "score"} <= set(preds[0])


def test_infer_on_a_missing_image_is_a_one_line_error(tmp_path):
    res = detplug("infer", str(tmp_path / "none.pth"), str(tmp_path / "nope.jpg"),
                  "--out-dir", str(tmp_path / "o"), cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "nope.jpg" in res.stderr
