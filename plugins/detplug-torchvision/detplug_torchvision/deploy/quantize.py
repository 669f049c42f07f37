"""int8 quantization of an exported ONNX detector with onnxruntime.quantization.

Static quantization where calibration images exist (the config's validation images): the
float model runs on them once to record each convolution input's range (MinMax), and the
file holds QuantizeLinear/DequantizeLinear pairs around every ``Conv`` (QDQ format, int8
weights per output channel, uint8 activations), which onnxruntime's CPU provider runs as
int8 convolutions. Only convolutions are quantized: they are nearly all of the time, while
the resize, the normalisation, box decoding, NMS and top-k stay float32 (quantizing box
arithmetic would cost precision and no time). Without calibration images the weights are
quantized dynamically (``ConvInteger``, activation ranges measured per call: slower than
static, but needs no data).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from detplug_torchvision.deploy.extras import require
from detplug_torchvision.deploy.output_file import write_bytes

QUANTIZED_OPS = ["Conv"]


def quantize_int8(
    float_model: str | os.PathLike,
    out: str | os.PathLike,
    calibration: Sequence[np.ndarray] | None,
    meta: dict[str, str] | None = None,
    input_name: str = "image",
) -> str:
    """Write the int8 model of ``float_model`` to ``out`` with ``meta`` and a
    ``detplug.quantization`` entry in its metadata; returns how it was quantized: static
    with ``calibration`` (uint8 ``[3, H, W]`` images), else dynamic."""
    quantization = require("onnxruntime.quantization", "int8 quantization")
    onnx = require("onnx", "int8 quantization")
    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, "int8.onnx")
        if calibration is not None:
            quantization.quantize_static(
                str(float_model),
                target,
                _reader(quantization, calibration, input_name),
                quant_format=quantization.QuantFormat.QDQ,
                op_types_to_quantize=QUANTIZED_OPS,
                per_channel=True,
                activation_type=quantization.QuantType.QUInt8,
                weight_type=quantization.QuantType.QInt8,
            )
            method = (
                f"static (QDQ: int8 weights per channel, uint8 activations calibrated on "
                f"{len(calibration)} images)"
            )
        else:
            quantization.quantize_dynamic(
                str(float_model),
                target,
                op_types_to_quantize=QUANTIZED_OPS,
                weight_type=quantization.QuantType.QUInt8,
            )
            method = "dynamic (int8 weights, activation ranges measured per call)"
        proto = onnx.load(target)
        onnx.helper.set_model_props(
            proto, {**(meta or {}), "detplug.quantization": f"int8 {method}, ops {QUANTIZED_OPS}"}
        )
        write_bytes(out, proto.SerializeToString())
    return method


def _reader(quantization: ModuleType, images: Iterable[np.ndarray], input_name: str) -> Any:
    """A ``CalibrationDataReader`` over ``images`` (uint8 ``[3, H, W]`` arrays)."""

    class Images(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self._images: Iterator[np.ndarray] = iter(images)

        def get_next(self) -> dict[str, np.ndarray] | None:
            image = next(self._images, None)
            return None if image is None else {input_name: np.ascontiguousarray(image)}

    return Images()
