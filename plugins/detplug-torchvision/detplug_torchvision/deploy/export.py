"""Export a :class:`DeployModel` to ONNX (dynamo exporter) or a torch.export ``.pt2`` file.

Both formats hold the whole detector, pre- and post-processing included, and the same
metadata (:func:`metadata`): class names, the input contract, the test-time resize and the
versions that wrote the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from detplug_core.errors import DetplugError
from detplug_torchvision.deploy.extras import require
from detplug_torchvision.deploy.model import INPUT_CONTRACT, OUTPUT_NAMES, DeployModel
from detplug_torchvision.deploy.output_file import write_bytes

FORMATS = ("onnx", "pt2")
MIN_OPSET = 18  # the dynamo exporter's lowest; antialiased Resize needs 18 too
PT2_METADATA = "detplug.json"  # the extra file of a .pt2 that holds the metadata
MIN_TRACE_SIDE = 160  # network input of a dynamic trace: no 1-pixel level up to stride 128
INPUT_NAME = "image"
# Names of the free dimensions of the ONNX graph's input and outputs.
INPUT_DIMS = ("channels", "height", "width")
DETECTIONS_DIM = "detections"


PASTED_MASKS_HINT = (
    "the detector pastes its masks into the image itself (output 'masks'); an exported "
    "graph pastes per-box masks ('box_masks' [K, 1, M, M]) at the original image size: give "
    "the detector a mask_paste switch, or configure it to return box_masks (Mask R-CNN: "
    "mask_postprocess paste: false)"
)


class ExportError(DetplugError):
    """The model could not be exported with the options given."""


def metadata(model: DeployModel, classes: Sequence[str], source: str) -> dict[str, str]:
    """String key/values stored in the exported file. The checkpoint is named by its file
    name and the SHA-256 of its bytes, never by a path of the machine that exported it."""
    import torchvision

    meta = {
        "detplug.class_names": json.dumps(list(classes)),
        "detplug.input_contract": INPUT_CONTRACT,
        "detplug.outputs": json.dumps(output_names(model)),
        "detplug.preprocessing": (model.resize.describe() if model.resize else "no resize")
        + "; then normalise and pad inside the model",
        "detplug.source": os.path.basename(os.fspath(source)),
        "detplug.versions": f"torch {torch.__version__}, torchvision {torchvision.__version__}",
    }
    if os.path.isfile(source):
        meta["detplug.source_sha256"] = _sha256(source)
    return meta


def output_names(model: DeployModel) -> list[str]:
    """The names of ``model``'s outputs, in order: ``boxes``, ``scores``, ``labels``, and
    ``masks`` for a mask model (from one call on a small image)."""
    device = next(model.parameters()).device
    with torch.no_grad():
        count = len(model(example_image((64, 64)).to(device)))
    return list(OUTPUT_NAMES[:count])


def _sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def example_image(size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """A deterministic uint8 ``[3, H, W]`` image to trace with (contents do not matter)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, *size), dtype=torch.uint8, generator=g)


@contextmanager
def _size_oblivious() -> Iterator[None]:
    """Trace without specialising sizes 0 and 1: a 1x1 pyramid level (small images) is a
    size like any other, not a guard that rejects every other image size."""
    import torch.fx.experimental._config as fx_config

    with fx_config.patch(backed_size_oblivious=True), warnings.catch_warnings():
        # torchvision's nms meta function uses a deprecated torch API: noise, not a problem.
        warnings.filterwarnings("ignore", "`create_unbacked_symint` is deprecated")
        yield


def _dynamic_shapes(dynamic: bool) -> dict[str, Any] | None:
    if not dynamic:
        return None
    return {"image": {1: torch.export.Dim.AUTO, 2: torch.export.Dim.AUTO}}


def export_program(
    model: DeployModel, size: tuple[int, int], dynamic: bool
) -> torch.export.ExportedProgram:
    """``torch.export`` of ``model`` on a CPU, static at ``size`` or with dynamic H and W."""
    if dynamic:
        size = _dynamic_trace_size(model, size)
    image = example_image(size)
    with torch.no_grad():
        # one eager call: lazily set state (RoIAlign scales) is set for good
        pasted_by_detector = "masks" in model.detect([image])[0]
    try:
        with _size_oblivious():
            program = torch.export.export(model, (image,), dynamic_shapes=_dynamic_shapes(dynamic))
    except Exception as err:  # torch.export reports unsupported code as many error types
        hint = " (try a fixed size: --size H W without --dynamic)" if dynamic else ""
        if pasted_by_detector:
            hint = f" ({PASTED_MASKS_HINT})"
        raise ExportError(f"torch.export failed{hint}: {_first_line(err)}") from err
    return _without_size_asserts(program)


def _dynamic_trace_size(model: DeployModel, size: tuple[int, int]) -> tuple[int, int]:
    """A trace size whose network input cannot bound the sizes the program takes.

    Without a test-time resize the network input is the image: a pyramid level of 1 pixel
    at trace time (a 128-px input has a 1x1 P7) would become a bound on the input size of
    the exported program, so the trace is enlarged to :data:`MIN_TRACE_SIDE` a side and
    the program then takes every size, small ones included. With a resize the network
    input's size is computed in the graph (:meth:`EvalResize.output_size`), a size the
    trace does not specialise on, so any trace size will do (the shapes configs resize to
    at most 128 px: every network input has a 1x1 P7).
    """
    if model.resize is None:
        return max(size[0], MIN_TRACE_SIDE), max(size[1], MIN_TRACE_SIDE)
    return size


def _without_size_asserts(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """Drop the in-graph runtime asserts: tracing size-obliviously records "this size is
    not 1" (a 1x1 pyramid level, a single detection) as asserts, though every op of the
    graph handles size 1. The ONNX graph never holds them either."""
    graph = program.graph_module.graph
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is torch.ops.aten._assert_scalar.default:
            graph.erase_node(node)
    graph.eliminate_dead_code()
    program.graph_module.recompile()
    return program


def export_onnx(
    model: DeployModel,
    out: str | os.PathLike,
    size: tuple[int, int],
    dynamic: bool,
    meta: dict[str, str],
    opset: int | None = None,
    program: torch.export.ExportedProgram | None = None,
) -> Path:
    """ONNX through torch's dynamo exporter (``torch.onnx.export(dynamo=True)``), from
    ``program`` when it is already exported (:func:`export_program`)."""
    require("onnxscript", "ONNX export")
    onnx = require("onnx", "ONNX export")
    if opset is not None and opset < MIN_OPSET:
        raise ExportError(
            f"--opset {opset}: detplug exports with torch's dynamo ONNX exporter, which "
            f"writes opset {MIN_OPSET} or newer; give --opset {MIN_OPSET} or more, or leave it out"
        )
    program = program or export_program(model, size, dynamic)
    try:
        with _size_oblivious():
            onnx_program = torch.onnx.export(
                program, opset_version=opset, dynamo=True, verbose=False, optimize=True
            )
    except Exception as err:
        raise ExportError(f"ONNX conversion failed: {_first_line(err)}") from err
    proto = onnx_program.model_proto
    name_inputs_and_outputs(proto, dynamic)
    onnx.helper.set_model_props(proto, meta)
    return write_bytes(out, proto.SerializeToString())


def name_inputs_and_outputs(proto: Any, dynamic: bool) -> None:
    """The graph's input ``image`` and outputs ``boxes``, ``scores``, ``labels`` and, for a
    mask model, ``masks`` (the exporter names outputs after the ops that made them, e.g.
    ``index_9``), and their free dimensions ``height``, ``width`` and ``detections`` (the
    exporter's are ``s62``, ``Min(100, u3)``)."""
    graph = proto.graph
    renames = {graph.input[0].name: INPUT_NAME}
    names = OUTPUT_NAMES[: len(graph.output)]
    renames.update({out.name: name for out, name in zip(graph.output, names, strict=True)})
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = renames.get(value.name, value.name)
    sizes: dict[str, str] = {}  # the exporter's names of the input's free dims -> ours
    if dynamic:
        for dim, name in zip(graph.input[0].type.tensor_type.shape.dim, INPUT_DIMS, strict=True):
            if not dim.HasField("dim_value"):
                sizes[dim.dim_param] = name
                dim.dim_param = name
    for out in graph.output:
        first, *rest = out.type.tensor_type.shape.dim
        if not first.HasField("dim_value"):
            first.dim_param = DETECTIONS_DIM
        for dim in rest:  # the masks' [height, width]: the input's
            if not dim.HasField("dim_value") and dim.dim_param in sizes:
                dim.dim_param = sizes[dim.dim_param]


def export_pt2(
    model: DeployModel,
    out: str | os.PathLike,
    size: tuple[int, int],
    dynamic: bool,
    meta: dict[str, str],
    program: torch.export.ExportedProgram | None = None,
) -> Path:
    """A ``torch.export`` program (``.pt2``), loadable with :func:`load_pt2`."""
    program = program or export_program(model, size, dynamic)
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={PT2_METADATA: json.dumps(meta)})
    return write_bytes(out, buffer.getvalue())


def load_pt2(path: str | os.PathLike) -> tuple[Callable[..., Any], dict[str, str]]:
    """The callable module of a ``.pt2`` export and its metadata (see
    :func:`inference_module`). torchvision is imported first (by this module): the program
    calls ``torchvision::nms``, which ``torch.export.load`` finds only once torchvision
    has registered it."""
    extra = {PT2_METADATA: ""}
    program = torch.export.load(str(path), extra_files=extra)
    meta = json.loads(extra[PT2_METADATA]) if extra[PT2_METADATA] else {}
    return inference_module(program), meta


def inference_module(program: torch.export.ExportedProgram) -> torch.nn.Module:
    """``program.module(check_guards=False)`` with its parameters frozen.

    No input guards: the size-oblivious trace's "no 1-pixel pyramid level" guard would
    refuse small images that the graph handles (see _without_size_asserts). Frozen
    parameters: ``module()`` gives them ``requires_grad``, so every call would record an
    autograd graph and keep its activations (RTMDet-tiny at 640 px: 784 ms a call instead
    of 127 ms), unless the caller remembered ``torch.no_grad()``.
    """
    return program.module(check_guards=False).requires_grad_(False)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}: {first[:300]}"
