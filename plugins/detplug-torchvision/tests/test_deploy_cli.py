"""``detplug infer``, ``detplug export`` and ``detplug benchmark`` from the command line:
results, and one line with exit code 2 for each user error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest
import torch
from deploy_utils import REPO, bccd_images, build, save_checkpoint


def detplug(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    """``detplug ARGS`` in a fresh process; ``prelude`` runs first (e.g. hiding a package)."""
    code = f"{prelude}\nimport sys\nfrom detplug_core.cli.main import main\nsys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def one_error_line(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    model, cfg = build("fcos")
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "latest.pth", model, cfg)


def test_infer_skips_a_bad_file_reports_it_and_writes_the_rest(checkpoint, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(bccd_images()[:2]):
        PIL.Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"good{i}.png")
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    res = detplug("infer", str(checkpoint), str(folder), "--out-dir", str(tmp_path / "out"))
    assert res.returncode == 2, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(errors) == 2 and "bad.jpg" in errors[0] and "1 of 3 images" in errors[1]
    predictions = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert {Path(p["file_name"]).name for p in predictions} == {"good0.png", "good1.png"}
    assert (tmp_path / "out" / "good0.png").is_file()
    assert not (tmp_path / "out" / "bad.png").exists()


def test_export_bad_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    line = one_error_line(detplug("export", str(bad), "--format", "pt2", "--dynamic",
                                  "--out", str(tmp_path / "m.pt2")))  # fmt: skip
    assert "bad.pth" in line and "corrupt" in line


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--format", "onnx", "--opset", "11", "--dynamic"], "--opset 18"),
        (["--format", "pt2", "--opset", "18", "--dynamic"], "--format onnx only"),
        (["--format", "pt2"], "--size H W"),
    ],
)
def test_export_unsupported_option_is_one_line(checkpoint, tmp_path, options, expected):
    res = detplug("export", str(checkpoint), *options, "--out", str(tmp_path / "m"))
    assert expected in one_error_line(res)


@pytest.mark.parametrize("package", ["onnxscript", "onnx"])
def test_export_missing_extra_names_the_pip_command(checkpoint, tmp_path, package):
    res = detplug("export", str(checkpoint), "--format", "onnx", "--dynamic",
                  "--out", str(tmp_path / "m.onnx"),
                  prelude=f"import sys; sys.modules[{package!r}] = None")  # fmt: skip
    line = one_error_line(res)
    assert package in line and "pip install 'detplug-torchvision[onnx]'" in line


def test_benchmark_missing_onnxruntime_names_the_pip_command(checkpoint):
    res = detplug("benchmark", str(checkpoint), "--backends", "onnxruntime", "--size", "64",
                  "64", prelude="import sys; sys.modules['onnxruntime'] = None")  # fmt: skip
    assert "pip install 'detplug-torchvision[onnx]'" in one_error_line(res)


def test_benchmark_json(checkpoint):
    res = detplug("benchmark", str(checkpoint), "--size", "96", "128", "--batch", "2",
                  "--backends", "eager,channels_last", "--warmup", "1", "--iters", "3",
                  "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["model"] == "FCOS" and "torch" in out["machine"]
    assert [r["backend"] for r in out["results"]] == ["eager", "channels_last"]
    for row in out["results"]:
        assert 0 < row["p50_ms"] <= row["p90_ms"] and row["images_per_s"] > 0


@pytest.mark.slow
def test_export_pt2_then_check(checkpoint, tmp_path):
    res = detplug("export", str(checkpoint), "--format", "pt2", "--dynamic", "--size", "96",
                  "128", "--out", str(tmp_path / "m.pt2"))  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "classes: rectangle, ellipse, triangle" in res.stdout
    checks = [line for line in res.stdout.splitlines() if line.startswith("check ")]
    assert len(checks) == 2 and all(line.endswith(": ok") for line in checks), res.stdout
