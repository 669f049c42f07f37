"""What ``detplug export`` does, in order: the destination checked, the model loaded, the
file written (float, or int8 through a float ONNX file), and its check."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from torch import Tensor

from detplug_core.errors import DetplugError
from detplug_torchvision.deploy.check import (
    CheckImage,
    ExportCheckError,
    exported_runner,
    metric_change,
    parity_lines,
)
from detplug_torchvision.deploy.export import example_image
from detplug_torchvision.deploy.model import DeployModel
from detplug_torchvision.deploy.validation import ValidationSet, validation_set

VALIDATION_CHECK_IMAGES = 3  # real images in a float export's parity check


def run_export(
    checkpoint: str,
    fmt: str,
    out: str,
    dynamic: bool,
    size: tuple[int, int],
    *,
    opset: int | None,
    weights: str | None,
    check: bool,
    int8: bool,
    calibration_images: int,
    check_images: int,
    max_map_drop: float,
    echo: Callable[[str], None],
) -> Path:
    """Export, report, check; raises :class:`ExportCheckError` when the check fails."""
    import torch

    from detplug_torchvision.deploy.export import export_onnx, export_pt2, metadata
    from detplug_torchvision.deploy.extras import require
    from detplug_torchvision.deploy.output_file import check_destination
    from detplug_torchvision.deploy.resize import eval_resize_from_config
    from detplug_torchvision.inference.loading import load_model

    if fmt == "onnx":  # a missing extra fails before the slow loading
        require("onnxscript", "ONNX export")
        require("onnx", "ONNX export")
    if int8:
        require("onnxruntime.quantization", "int8 quantization")
    path = check_destination(out)
    loaded = load_model(checkpoint, weights)
    model = DeployModel(loaded.model, eval_resize_from_config(loaded.config)).eval()
    meta = metadata(model, loaded.classes, checkpoint)
    data, no_data = _validation(loaded.config)
    if int8:
        from detplug_torchvision.deploy.quantize import quantize_int8

        with tempfile.TemporaryDirectory() as tmp:
            float_file = export_onnx(model, Path(tmp) / "float.onnx", size, dynamic, meta, opset)
            calibration = None
            if data is not None:
                images = data.images(calibration_images)
                calibration = [_fit(im, size, dynamic).numpy() for im in images]
            method = quantize_int8(float_file, path, calibration, meta)
    elif fmt == "onnx":
        export_onnx(model, path, size, dynamic, meta, opset)
    else:
        export_pt2(model, path, size, dynamic, meta)
    shape = "[3, H, W] (any H, W)" if dynamic else f"[3, {size[0]}, {size[1]}]"
    kind = f"{fmt}, int8" if int8 else fmt
    echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): {kind}, input uint8 {shape}")
    echo(f"outputs: {', '.join(json.loads(meta['detplug.outputs']))}")
    echo(f"classes: {', '.join(loaded.classes) or '(none saved)'}")
    if int8:
        calibrated = f" of {data.where}" if data is not None and calibration else ""
        echo(f"quantization: {method}{calibrated}" + (f" ({no_data})" if no_data else ""))
    if not check:
        return path
    if fmt == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            echo("check skipped: onnxruntime is not installed")
            return path
    runner = exported_runner(path, fmt)
    with torch.inference_mode():
        if int8:
            if data is None:
                echo(f"check skipped: no validation images to score the int8 model ({no_data})")
                return path
            lines, failure = metric_change(model, runner, data, check_images, max_map_drop)
        else:
            lines, failure = parity_lines(model, runner, _check_images(data, size, dynamic))
    for line in lines:
        echo(line)
    if failure:
        raise ExportCheckError(failure)
    return path


def _validation(config: dict) -> tuple[ValidationSet | None, str]:
    """The config's validation images, or ``None`` and why there are none here."""
    try:
        return validation_set(config), ""
    except DetplugError as err:
        return None, f"no validation images: {err}"


def _fit(image: Tensor, size: tuple[int, int], dynamic: bool) -> Tensor:
    """``image`` as the exported file takes it: any size when dynamic, else resized."""
    if dynamic or tuple(image.shape[-2:]) == tuple(size):
        return image
    from torchvision.transforms.v2 import functional as F

    return F.resize(image, list(size), antialias=True)


def _check_images(data: ValidationSet | None, size: tuple[int, int], dynamic: bool) -> list:
    """A few validation images (real pictures the model detects things in), then random
    images at the traced size and, when dynamic, at another size."""
    images = []
    if data is not None:
        for i, image in enumerate(data.images(VALIDATION_CHECK_IMAGES)):
            images.append(CheckImage(f"validation image {i}", _fit(image, size, dynamic)))
    sizes = [size] + ([(size[0] // 2 + 7, size[1] + 33)] if dynamic else [])
    images += [CheckImage("random image", example_image(s)) for s in sizes]
    return images
