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
    # three validation images of the config (real detections), two random images
    assert len(checks) == 5 and all(line.endswith(": ok") for line in checks), res.stdout
    assert sum("validation image" in line for line in checks) == 3


def _write_images(folder: Path, names: list[str]) -> None:
    folder.mkdir(exist_ok=True)
    for name, image in zip(names, bccd_images(), strict=False):
        PIL.Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / name)


def test_infer_refuses_to_write_into_the_folder_of_its_inputs(checkpoint, tmp_path):
    folder = tmp_path / "imgs"
    _write_images(folder, ["a.png", "b.jpg"])
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    line = one_error_line(detplug("infer", str(checkpoint), str(folder), "--out-dir", str(folder)))
    assert "--out-dir" in line and "input image" in line
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_infer_gives_images_of_one_stem_distinct_drawings(checkpoint, tmp_path):
    """x.jpg and x.png used to be drawn to the same x.png (one file, two reported)."""
    _write_images(tmp_path / "imgs", ["x.jpg", "x.png", "y.png"])
    res = detplug("infer", str(checkpoint), str(tmp_path / "imgs"), "--out-dir",
                  str(tmp_path / "out"))  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    drawn = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert drawn == ["x_jpg.png", "x_png.png", "y.png"]
    predictions = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert {Path(p["file_name"]).name: p["drawn"] for p in predictions} == {
        "x.jpg": "x_jpg.png",
        "x.png": "x_png.png",
        "y.png": "y.png",
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--device", "tpu"], "--device tpu: expected cpu, cuda or cuda:N"),
        (["--device", "cpu:1"], "--device cpu:1"),
        (["--threads", "-1"], "'--threads'"),
        (["--iters", "0"], "'--iters'"),
    ],
)
def test_benchmark_bad_option_is_one_line(checkpoint, options, expected):
    res = detplug("benchmark", str(checkpoint), "--backends", "eager", *options)
    assert expected in one_error_line(res)


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores permissions: sysfs)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_export_to_an_unwritable_folder_fails_first_in_one_line(checkpoint, tmp_path, fmt):
    out = _unwritable_folder(tmp_path) / f"model.{fmt}"
    res = detplug("export", str(checkpoint), "--format", fmt, "--size", "64", "64",
                  "--out", str(out))  # fmt: skip
    line = one_error_line(res)
    assert f"--out {out}: cannot write in the folder" in line
    assert "Loading" not in res.stdout and not res.stdout.strip()


def test_export_to_a_full_disk_is_one_line(checkpoint):
    """/dev/full: every write fails with ENOSPC (torch.export.save aborted the process
    from C++ with exit code 134)."""
    res = detplug("export", str(checkpoint), "--format", "pt2", "--size", "64", "64",
                  "--no-check", "--out", "/dev/full")  # fmt: skip
    assert "could not write /dev/full" in one_error_line(res)
    assert "No space left on device" in res.stderr


def test_quantize_applies_to_onnx_only(checkpoint, tmp_path):
    res = detplug("export", str(checkpoint), "--format", "pt2", "--quantize", "int8", "--size",
                  "64", "64", "--out", str(tmp_path / "m.pt2"))  # fmt: skip
    assert "--quantize int8 applies to --format onnx only" in one_error_line(res)


@pytest.mark.slow
def test_export_int8_reports_the_map_change_on_the_validation_images(checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    out = tmp_path / "m_int8.onnx"
    res = detplug("export", str(checkpoint), "--format", "onnx", "--dynamic", "--size", "160",
                  "160", "--quantize", "int8", "--calibration-images", "4",
                  "--check-images", "8", "--out", str(out))  # fmt: skip
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert any(line.startswith("quantization: static") and "4 images" in line for line in lines)
    (check,) = [line for line in lines if line.startswith("check ")]
    assert "coco/mAP on 8 validation images: float32" in check and ", int8 " in check, check
    proto = onnx.load(str(out))
    ops = {node.op_type for node in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["detplug.quantization"].startswith("int8 static")
    assert json.loads(meta["detplug.class_names"]) == ["rectangle", "ellipse", "triangle"]
