"""Exported FCOS, RetinaNet, Faster R-CNN and RTMDet (ONNX through onnxruntime, torch.export .pt2)
against eager PyTorch on real photos of three sizes and aspects, with the test-time resize,
pre- and post-processing inside the exported graph; and ONNX run in a process that imports
neither torch nor detplug."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from deploy_utils import CONFIGS, bccd_images, build
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


@pytest.fixture(scope="module", params=list(CONFIGS))
def exported(request, tmp_path_factory):
    """(detector name, eager DeployModel, ONNX path, pt2 path): one dynamic export each."""
    torch.set_num_threads(1)
    model, _ = build(request.param)
    deploy = DeployModel(model, EvalResize(short=160, long=224)).eval()
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


@pytest.mark.slow
def test_pt2_matches_eager(exported):
    name, deploy, _, pt2_path = exported
    module, meta = load_pt2(pt2_path)
    assert json.loads(meta["detplug.class_names"]) == ["a", "b", "c"]
    for image in bccd_images():
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
