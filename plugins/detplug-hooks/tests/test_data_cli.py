"""``detplug data check`` and ``detplug data show`` on a YOLO data set built by the test,
and ``labels.png`` drawn from a dataset's records."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def yolo_data(root: Path) -> Path:
    (root / "images" / "train").mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (40, 30), (10 * i, 0, 0)).save(root / "images" / "train" / f"{i}.jpg")
        rows = f"{i % 2} 0.5 0.5 0.25 0.5\n0 0.2 0.2 0.1 0.1\n"
        write(root / "labels" / "train" / f"{i}.txt", rows)
    (root / "labels" / "train" / "3.txt").write_text("")  # a background image
    write(root / "labels" / "train" / "orphan.txt", "0 0.5 0.5 0.1 0.1\n")
    write(root / "data.yaml", "path: .\ntrain: images/train\nnames: [ant, bee]\n")
    return root / "data.yaml"


def detplug(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


def test_check_reports_counts_problems_and_writes_labels_png(tmp_path):
    data = yolo_data(tmp_path / "d")
    res = detplug("data", "check", str(data), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "[train] 4 images, 6 boxes, 1 images without boxes" in out
    assert "boxes per class: ant: 5, bee: 1" in out
    assert "box size sqrt(w*h) px: [0,8): 3  [8,16): 3" in out
    assert "loader: 1 label files without an image" in out and "orphan.txt" in out
    assert "loader: 1 empty label files (background)" in out
    assert (tmp_path / "out" / "labels.png").stat().st_size > 10_000


def test_check_lists_images_the_loader_would_refuse_and_exits_2(tmp_path):
    data = yolo_data(tmp_path / "d")
    (tmp_path / "d" / "images" / "train" / "1.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    res = detplug("data", "check", str(data), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 2
    assert "cannot read the size of image file" in res.stderr + res.stdout
    # a truncated image whose header is fine is found when decoding
    Image.new("RGB", (40, 30)).save(tmp_path / "d" / "images" / "train" / "1.jpg")
    noise = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    path = tmp_path / "d" / "images" / "train" / "2.jpg"
    Image.fromarray(noise).save(path, quality=100)
    path.write_bytes(path.read_bytes()[:-1500])
    res = detplug(
        "data", "check", str(data), "--decode", "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert res.returncode == 2, res.stdout
    assert "refused when loading: cannot decode image file" in res.stdout


def test_show_draws_images_with_their_boxes(tmp_path):
    data = yolo_data(tmp_path / "d")
    res = detplug(
        "data", "show", str(data), "--num", "2", "--out", str(tmp_path / "s"), cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    pictures = sorted((tmp_path / "s").glob("*.png"))
    assert [p.name for p in pictures] == ["train_00000_0.png", "train_00002_2.png"]
    drawn = np.asarray(Image.open(pictures[0]))
    assert drawn.shape[:2] == (270, 360)  # enlarged by a whole factor to a readable size
    assert (drawn == (0, 200, 0)).all(axis=2).any()  # the ground-truth box colour


def test_check_reads_a_training_config(tmp_path):
    data = yolo_data(tmp_path / "d")
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"train_dataloader:\n  dataset: {{type: YoloDataset, data: {data}, split: train,"
        " transforms: [{type: ToFloatImage}]}\n"
    )
    res = detplug("data", "check", str(config), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "[train] 4 images, 6 boxes" in res.stdout


def truncated_jpeg(path: Path) -> None:
    """A JPEG cut short: its header (and so its size) reads fine, its pixels do not."""
    noise = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=100)
    path.write_bytes(path.read_bytes()[:-1500])


def test_check_finds_a_truncated_jpeg_by_default_and_show_skips_it(tmp_path):
    data = yolo_data(tmp_path / "d")  # issue 26, wall 4
    truncated_jpeg(tmp_path / "d" / "images" / "train" / "0.jpg")
    res = detplug("data", "check", str(data), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 2, res.stdout
    assert "refused when loading: cannot decode image file" in res.stdout
    assert "0.jpg" in res.stdout and "1 images would be refused" in res.stderr
    res = detplug(
        "data", "show", str(data), "--num", "2", "--out", str(tmp_path / "s"), cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert "skipped YoloDataset[0]" in res.stdout and "cannot decode" in res.stdout
    assert len(list((tmp_path / "s").glob("*.png"))) == 2


def test_check_says_what_train_data_says_and_refuses_nc_without_names(tmp_path):
    res = detplug("data", "check", "nope/", cwd=tmp_path)
    assert res.returncode == 2 and "--data: 'nope/' does not exist" in res.stderr
    data = tmp_path / "data.yaml"
    (tmp_path / "images").mkdir()
    data.write_text("train: images\nval: images\nnc: 7\n")
    res = detplug("data", "check", str(data), cwd=tmp_path)
    assert res.returncode == 2 and "nc is 7 but 'names' is missing" in res.stderr
    empty = tmp_path / "cfg.yaml"
    empty.write_text("seed: 1\n")
    res = detplug("data", "check", str(empty), cwd=tmp_path)
    assert res.returncode == 2 and "nor a config with datasets" in res.stderr
