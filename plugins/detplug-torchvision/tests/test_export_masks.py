"""Masks in deployment: the pasting an exported graph holds (against torchvision's
``paste_masks_in_image``), DeployModel's ``masks`` output, the export check on masks, and a
Mask R-CNN exported to ONNX (run by onnxruntime) and ``.pt2`` against eager PyTorch on real
photos of three sizes: boxes as for every detector, masks IoU >= 0.99 per matched detection."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from deploy_utils import CLASSES, bccd_images, randomise, save_checkpoint
from detplug_torchvision.deploy.check import (
    CheckImage,
    compare_to_eager,
    eager_runner,
    parity_lines,
)
from detplug_torchvision.deploy.mask_paste import paste_masks_in_graph
from detplug_torchvision.deploy.model import DeployModel
from detplug_torchvision.deploy.parity import mask_ious
from detplug_torchvision.deploy.resize import EvalResize
from detplug_torchvision.masks import image_masks, paste_masks
from torchvision.models.detection.roi_heads import paste_masks_in_image

from detplug_core import MODELS
from detplug_core.config import load_config
from detplug_core.data.num_classes import resolve_num_classes

MASK_RCNN = "mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml"
SHORT, LONG = 128, 160  # the test-time resize exported
TOL = 1e-4  # of the image size for boxes; absolute for scores
MIN_IOU = 0.99  # per matched detection, masks binarised at 0.5


def mask_rcnn(seed: int = 0) -> DeployModel:
    """The shapes Mask R-CNN recipe with random weights (100 detections an image, every
    mask non-empty) behind the test-time resize."""
    cfg = load_config(MASK_RCNN, [f"+data.classes=[{','.join(CLASSES)}]"]).to_dict()
    resolve_num_classes(cfg)
    model = randomise(MODELS.build(cfg["model"]), seed)
    return DeployModel(model, EvalResize(short=SHORT, long=LONG)).eval()


def random_boxes(count: int, size: tuple[int, int], seed: int) -> torch.Tensor:
    """Boxes centred in an image, inside it, across its edges and corners, and larger than
    it; the first ones a whole-image box, a sub-pixel box and boxes on the borders.
    (torchvision's pasting fails on a box wholly outside the image.)"""
    g = torch.Generator().manual_seed(seed)
    height, width = size
    centre = torch.rand(count, 2, generator=g) * torch.tensor([width, height])
    half = torch.rand(count, 2, generator=g) * torch.tensor([width * 0.6, height * 0.6]) + 0.1
    boxes = torch.cat([centre - half, centre + half], dim=1)
    boxes[:4] = torch.tensor(
        [
            [0.0, 0.0, width, height],
            [5.5, 6.2, 5.6, 6.3],
            [-30.0, -10.0, 12.7, 9.1],
            [width - 3.3, height - 8.0, width + 25.0, height + 1.5],
        ]
    )
    return boxes


@pytest.mark.parametrize(("size", "grid"), [((97, 131), 28), ((64, 40), 14), ((1, 7), 28)])
def test_paste_in_graph_equals_torchvision(size, grid):
    """The graph's pasting gives torchvision's masks (its ``paste_masks_in_image``, and
    detplug's loop ``paste_masks``) up to float rounding, and the same binary masks."""
    g = torch.Generator().manual_seed(grid)
    masks = torch.rand(40, 1, grid, grid, generator=g)
    boxes = random_boxes(40, size, seed=grid)
    ours = paste_masks_in_graph(masks, boxes, size)
    reference = paste_masks_in_image(masks, boxes, size, padding=1)[:, 0]
    assert ours.shape == (40, *size)
    assert (ours - reference).abs().max() < 1e-5
    assert (ours - paste_masks(masks, boxes, size)[:, 0]).abs().max() < 1e-5
    ious = mask_ious((ours >= 0.5).numpy(), (reference >= 0.5).numpy())
    assert ious.min() >= MIN_IOU, ious
    assert (reference[0] > 0).any() and (reference >= 0.5).any()  # something was pasted


def test_paste_in_graph_of_no_detections():
    masks = paste_masks_in_graph(torch.zeros(0, 1, 28, 28), torch.zeros(0, 4), (5, 9))
    assert masks.shape == (0, 5, 9)


@pytest.fixture(scope="module")
def deploy() -> DeployModel:
    torch.set_num_threads(1)
    return mask_rcnn()


@pytest.fixture(scope="module")
def photos() -> list[torch.Tensor]:
    return bccd_images()  # 187 x 301, 263 x 149, 160 x 213


def test_deploy_model_gives_masks_of_the_original_image(deploy, photos):
    """``forward`` (the exported contract) returns uint8 masks [K, H, W] of the image's own
    size, equal to the masks ``Detector`` pastes from ``detect`` (torchvision's pasting of the
    per-box masks at the boxes in the image's pixels)."""
    assert deploy.detector.mask_paste is False  # DeployModel asked for per-box masks
    for image in photos:
        with torch.no_grad():
            boxes, scores, labels, masks = deploy(image)
            out = deploy.detect([image])[0]
        size = tuple(image.shape[-2:])
        assert masks.dtype == torch.uint8 and masks.shape == (len(scores), *size)
        assert set(masks.unique().tolist()) <= {0, 1}
        assert out["box_masks"].shape[1:] == (1, 28, 28)
        reference = image_masks(out, size)
        assert len(scores) >= 20 and reference.flatten(1).any(1).float().mean() > 0.9
        ious = mask_ious(masks.numpy(), reference.numpy())
        assert ious.min() >= MIN_IOU, ious.min()


def test_the_check_compares_masks(deploy, photos):
    """The export check fails on masks that differ (shifted by 3 pixels) or are missing,
    with the boxes equal; it passes on the model itself."""
    images = [CheckImage(f"photo {i}", image) for i, image in enumerate(photos[:2])]
    eager = eager_runner(deploy)

    def shifted(image):
        boxes, scores, labels, masks = eager(image)
        return boxes, scores, labels, np.roll(masks, 3, axis=2)

    lines, failure = parity_lines(deploy, eager, images)
    assert failure is None and all(line.endswith(": ok") for line in lines), lines
    assert all("lowest mask IoU 1.0000" in line for line in lines), lines
    lines, failure = parity_lines(deploy, shifted, images)
    assert failure and all(line.endswith(": DIFFERENT") for line in lines), lines
    assert all("box diff 0.0e+00" in line for line in lines), lines
    lines, failure = parity_lines(deploy, lambda image: eager(image)[:3], images)
    assert failure and all("masks: the exported file gives none: DIFFERENT" in x for x in lines)


def test_a_box_rounded_across_a_pixel_is_not_a_mask_difference():
    """A file's box 1e-4 px from the eager one, across a whole pixel of the grown box, cuts
    a window one pixel over and moves the whole mask (IoU 0.71 with the eager mask): the
    check pastes the eager masks at the file's boxes, so the masks agree, while a mask that
    differs still fails."""
    grid = torch.full((1, 1, 28, 28), 0.1)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    grid[0, 0][(yy - 13.5) ** 2 + (xx - 13.5) ** 2 < 100] = 0.9  # a disk
    # width 14 grows to 15 about x = 17.5 + 1e-5: window from 10 + 1e-5 (pixel 10)
    boxes = torch.tensor([[10.50001, 20.50001, 24.50001, 34.50001]])
    eager = {"boxes": boxes, "scores": torch.tensor([0.9]), "labels": torch.tensor([1]),
             "box_masks": grid}  # fmt: skip
    moved = boxes - 5e-5  # window from 9.99996: pixel 9
    pasted = paste_masks_in_graph(grid, moved, (48, 40)) >= 0.5
    got = (moved.numpy(), np.array([0.9], np.float32), np.array([1]), pasted.numpy())
    at_eager_boxes = image_masks(eager, (48, 40))
    assert mask_ious(at_eager_boxes.numpy(), got[3])[0] < 0.9  # the whole mask moved
    parity = compare_to_eager(eager, got, (48, 40))
    assert parity.ok() and parity.mask_iou == 1.0, parity
    other = (*got[:3], np.roll(got[3], 1, axis=2))
    assert not compare_to_eager(eager, other, (48, 40)).ok()


def test_mask_ious_of_empty_masks_agree():
    a = np.zeros((2, 4, 4), np.uint8)
    b = a.copy()
    b[1, 0, :2] = 1
    assert mask_ious(a, b).tolist() == [1.0, 0.0]


# One export (a torch.export program written as .pt2 and converted to ONNX) for the tests below.


@pytest.fixture(scope="module")
def exported(deploy, tmp_path_factory):
    """(ONNX path, pt2 path) of ``deploy`` exported with dynamic height and width."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from detplug_torchvision.deploy.export import (
        export_onnx,
        export_program,
        export_pt2,
        metadata,
    )

    out = tmp_path_factory.mktemp("mask_rcnn")
    meta = metadata(deploy, CLASSES, "test")
    program = export_program(deploy, (200, 256), dynamic=True)
    pt2 = export_pt2(deploy, out / "model.pt2", (200, 256), True, meta, program=program)
    onnx = export_onnx(deploy, out / "model.onnx", (200, 256), True, meta, program=program)
    return onnx, pt2


def _check(deploy: DeployModel, got: tuple, image: torch.Tensor) -> None:
    size = tuple(image.shape[-2:])
    with torch.no_grad():
        ref = deploy.detect([image])[0]
    assert len(ref["scores"]) >= 20, "too few detections for a meaningful comparison"
    assert got[3].dtype == np.uint8 and got[3].shape == (len(got[1]), *size)
    threshold = float(ref["scores"].min())  # the 100-detection cap acts as a threshold
    parity = compare_to_eager(ref, got, size, score_threshold=threshold, margin=TOL)
    assert parity.ok(TOL, MIN_IOU), f"{list(image.shape)}: {parity}"
    assert parity.matched >= 0.9 * len(ref["scores"]) and parity.mask_iou is not None


@pytest.mark.slow
def test_onnxruntime_masks_match_eager(deploy, photos, exported):
    import onnxruntime as ort

    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    for image in photos:
        _check(deploy, tuple(session.run(None, {"image": image.numpy()})), image)


@pytest.mark.slow
def test_pt2_masks_match_eager(deploy, photos, exported):
    from detplug_torchvision.deploy.export import load_pt2

    module, _ = load_pt2(exported[1])
    for image in photos:
        with torch.no_grad():
            got = tuple(t.numpy() for t in module(image))
        _check(deploy, got, image)


@pytest.mark.slow
def test_onnx_masks_output_is_named_and_typed(exported):
    import onnxruntime as ort

    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    outputs = session.get_outputs()
    assert [o.name for o in outputs] == ["boxes", "scores", "labels", "masks"]
    assert outputs[3].shape == ["detections", "height", "width"]
    assert outputs[3].type == "tensor(uint8)"
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["detplug.outputs"]) == ["boxes", "scores", "labels", "masks"]
    assert "masks uint8 [K, H, W]" in meta["detplug.input_contract"]


@pytest.mark.slow
def test_int8_quantization_keeps_the_masks(photos, exported, tmp_path):
    """The mask branch's convolutions are quantized with the rest and the file still
    returns a binary mask per detection in the image's pixels."""
    import onnx
    from detplug_torchvision.deploy.check import exported_runner
    from detplug_torchvision.deploy.quantize import quantize_int8

    out = tmp_path / "int8.onnx"
    quantize_int8(exported[0], out, [image.numpy() for image in photos[:2]])
    proto = onnx.load(str(out))
    quantized = [n.name for n in proto.graph.node if n.op_type == "DequantizeLinear"]
    assert any("mask" in name for name in quantized), "the mask branch stayed float"
    run = exported_runner(out, "onnx")
    for image in photos:
        boxes, scores, labels, masks = run(image)
        assert masks.dtype == np.uint8 and masks.shape == (len(scores), *image.shape[-2:])
        assert set(np.unique(masks).tolist()) <= {0, 1} and masks.any()


@pytest.mark.slow
def test_a_detector_that_pastes_its_own_masks_is_refused_by_name(tmp_path):
    """A mask detector without the ``mask_paste`` switch pastes in the network input with
    a loop no graph holds: the export stops with one error naming what is missing."""
    from detplug_torchvision.deploy.export import ExportError, export_program

    deploy = mask_rcnn()
    deploy.detector.mask_paste = True  # as a detector without the switch would stay
    with pytest.raises(ExportError, match="the detector pastes its masks into the image itself"):
        export_program(deploy, (96, 128), dynamic=False)


@pytest.mark.slow
def test_export_command_checks_the_masks(tmp_path):
    """``detplug export --check`` of a Mask R-CNN checkpoint: the outputs named, and every
    check line (validation images of the shapes config, random images) compares masks."""
    deploy = mask_rcnn()
    cfg = load_config(MASK_RCNN, [f"+data.classes=[{','.join(CLASSES)}]"]).to_dict()
    resolve_num_classes(cfg)
    ckpt = save_checkpoint(tmp_path / "latest.pth", deploy.detector, cfg)
    args = ["export", str(ckpt), "--format", "pt2", "--dynamic", "--size", "96", "128"]
    res = subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", *args, "--out", str(tmp_path / "m.pt2")],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "outputs: boxes, scores, labels, masks" in res.stdout
    checks = [line for line in res.stdout.splitlines() if line.startswith("check ")]
    assert len(checks) == 5 and all(line.endswith(": ok") for line in checks), res.stdout
    assert all("lowest mask IoU" in line for line in checks), res.stdout
