"""Exported FCOS, RetinaNet, Faster R-CNN and RTMDet (ONNX through onnxruntime, torch.export .pt2)
against eager PyTorch on real photos of three sizes and aspects, with the test-time resize,
pre- and post-processing inside the exported graph; and ONNX run in a process that imports
neither torch nor detplug."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import PIL.Image
import pytest
import torch
from deploy_utils import (
    CONFIGS,
    REPO,
    bccd_images,
    bccd_photos,
    build,
    float32_rounding_sizes,
    to_tensor,
)
from detplug_torchvision.deploy.export import (
    export_onnx,
    export_program,
    export_pt2,
    load_pt2,
    metadata,
)
from detplug_torchvision.deploy.model import DeployModel
from detplug_torchvision.deploy.parity import compare
from detplug_torchvision.deploy.resize import EvalResize

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

TOL = 1e-4  # of the image size for boxes; absolute for scores
CAP = 100  # detections_per_img of the three shapes configs
SHORT, LONG = 160, 224  # the test-time resize exported


@pytest.fixture(scope="module", params=list(CONFIGS))
def exported(request, tmp_path_factory):
    """(detector name, eager DeployModel, ONNX path, pt2 path): one dynamic export each."""
    torch.set_num_threads(1)
    model, _ = build(request.param)
    deploy = DeployModel(model, EvalResize(short=SHORT, long=LONG)).eval()
    out = tmp_path_factory.mktemp(request.param)
    meta = metadata(deploy, ["a", "b", "c"], "test")
    program = export_program(deploy, (200, 256), dynamic=True)
    pt2 = export_pt2(deploy, out / "model.pt2", (200, 256), True, meta, program=program)
    onnx = export_onnx(deploy, out / "model.onnx", (200, 256), True, meta, program=program)
    return request.param, deploy, onnx, pt2


def _eager(deploy: DeployModel, image: torch.Tensor) -> tuple[np.ndarray, ...]:
    with torch.inference_mode():
        return tuple(t.numpy() for t in deploy(image))


def _check(name: str, ref: tuple, got: tuple, image: torch.Tensor) -> None:
    assert len(ref[1]) >= 20, f"{name}: too few detections for a meaningful comparison"
    # At the detection cap the lowest kept score acts as a threshold.
    threshold = float(ref[1].min()) if len(ref[1]) == CAP else 0.0
    parity = compare(ref, got, tuple(image.shape[-2:]), score_threshold=threshold, margin=TOL)
    assert parity.ok(TOL), f"{name} {list(image.shape)}: {parity}"
    assert parity.matched >= 0.9 * len(ref[1])


@pytest.mark.slow
def test_onnxruntime_matches_eager(exported):
    import onnxruntime as ort

    name, deploy, onnx_path, _ = exported
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for image in bccd_images():
        got = tuple(session.run(None, {"image": image.numpy()}))
        _check(name, _eager(deploy, image), got, image)


def rounding_images() -> list[torch.Tensor]:
    """BCCD photos resized to sizes whose resized size float32 arithmetic gets wrong."""
    sizes = float32_rounding_sizes(SHORT, LONG, 2)
    photos = bccd_photos(len(sizes))
    return [
        to_tensor(p.resize((w, h), PIL.Image.BILINEAR))
        for p, (h, w) in zip(photos, sizes, strict=True)
    ]


@pytest.mark.slow
def test_onnx_resizes_as_eager_on_sizes_float32_rounds_differently(exported):
    """The graph computes the resized size in float64 as eager does: in float32 a
    533x400 photo became 341x255 in the graph and 340x255 in eager (256/341), and detections moved."""
    import onnxruntime as ort

    name, deploy, onnx_path, _ = exported
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for image in rounding_images():
        got = tuple(session.run(None, {"image": image.numpy()}))
        _check(name, _eager(deploy, image), got, image)


@pytest.mark.slow
def test_onnx_inputs_and_outputs_have_the_documented_names(exported):
    import onnxruntime as ort

    _, _, onnx_path, _ = exported
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (image,) = session.get_inputs()
    assert image.name == "image" and image.shape == [3, "height", "width"]
    outputs = session.get_outputs()
    assert [o.name for o in outputs] == ["boxes", "scores", "labels"]
    assert [o.shape for o in outputs] == [["detections", 4], ["detections"], ["detections"]]


def test_metadata_names_the_checkpoint_without_its_folder(tmp_path):
    model, _ = build("fcos")
    ckpt = tmp_path / "run" / "latest.pth"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"weights")
    meta = metadata(DeployModel(model), ["a"], str(ckpt.resolve()))
    assert meta["detplug.source"] == "latest.pth"
    assert str(tmp_path) not in json.dumps(meta)
    assert meta["detplug.source_sha256"] == __import__("hashlib").sha256(b"weights").hexdigest()


@pytest.mark.slow
def test_pt2_matches_eager(exported):
    name, deploy, _, pt2_path = exported
    module, meta = load_pt2(pt2_path)
    assert json.loads(meta["detplug.class_names"]) == ["a", "b", "c"]
    for image in bccd_images() + rounding_images():
        with torch.no_grad():
            got = tuple(t.numpy() for t in module(image))
        _check(name, _eager(deploy, image), got, image)


@pytest.mark.slow
def test_pt2_module_records_no_autograd_graph(exported):
    _, _, _, pt2_path = exported
    module, _ = load_pt2(pt2_path)
    assert torch.is_grad_enabled()
    boxes, scores, _ = module(bccd_images()[0])
    assert not any(p.requires_grad for p in module.parameters())
    assert not boxes.requires_grad and not scores.requires_grad


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import onnxruntime as ort
    session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    boxes, scores, labels = session.run(None, {"image": np.load(sys.argv[2])})
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "detplug_core",
                    "detplug_torchvision", "torchvision"))
    print(json.dumps({"boxes": boxes.tolist(), "scores": scores.tolist(),
                      "labels": labels.tolist(), "leaked": leaked,
                      "classes": json.loads(meta["detplug.class_names"]),
                      "contract": meta["detplug.input_contract"]}))
    """
)


@pytest.mark.slow
def test_onnx_runs_without_torch_or_detplug(exported, tmp_path):
    name, deploy, onnx_path, _ = exported
    image = bccd_images()[1]
    np.save(tmp_path / "image.npy", image.numpy())
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(onnx_path), str(tmp_path / "image.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["leaked"] == []
    assert out["classes"] == ["a", "b", "c"]
    assert "uint8 RGB tensor [3, H, W]" in out["contract"]
    got = (np.array(out["boxes"]), np.array(out["scores"]), np.array(out["labels"]))
    _check(name, _eager(deploy, image), got, image)


def docs_snippet(marker: str) -> str:
    """The python code block of docs/deploy.md that contains ``marker``."""
    text = (REPO / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    found = [b for b in blocks if marker in b]
    assert found, f"docs/deploy.md has no python block with {marker!r}"
    return found[0]


@pytest.mark.slow
def test_the_documented_pt2_loading_runs_in_a_fresh_process(exported, tmp_path):
    """docs/deploy.md's plain ``torch.export.load`` snippet, as written, in a process that
    has imported nothing (it needs torchvision imported: the program calls
    ``torchvision::nms``)."""
    _, deploy, _, pt2_path = exported
    image = bccd_images()[0]
    torch.save(image, tmp_path / "image.pt")
    code = docs_snippet("torch.export.load(").replace('"fcos.pt2"', repr(str(pt2_path)))
    prelude = f"import torch\nimage_uint8_chw = torch.load({str(tmp_path / 'image.pt')!r})\n"
    epilogue = f"\ntorch.save((boxes, scores, labels), {str(tmp_path / 'out.pt')!r})\n"
    res = subprocess.run(
        [sys.executable, "-c", prelude + code + epilogue],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    got = tuple(t.numpy() for t in torch.load(tmp_path / "out.pt"))
    _check(exported[0], _eager(deploy, image), got, image)
