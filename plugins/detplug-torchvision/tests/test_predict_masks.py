"""``Detector`` and ``detplug infer`` with a mask model (Mask R-CNN, random weights): masks in
each image's own pixels, of its size, equal to torchvision's way of pasting masks into the
original image (``paste_masks_in_image`` at the boxes scaled back to it), the same batched
and alone, as COCO RLE in ``to_list`` and ``predictions.json``, and drawn."""

from __future__ import annotations

import copy
import json

import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner
from deploy_utils import CLASSES, bccd_images, randomise, save_checkpoint
from detplug_torchvision import Detector
from detplug_torchvision.deploy.resize import EvalResize
from detplug_torchvision.inference.cli import infer
from detplug_torchvision.inference.draw import draw_detections
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.transforms.v2 import functional as TF

from detplug_core import MODELS
from detplug_core.config import load_config
from detplug_core.data.num_classes import resolve_num_classes

pytest.importorskip("detplug_mask_rcnn")
pycocotools_mask = pytest.importorskip("pycocotools.mask")

CONFIG = "mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml"
RESIZE = {"short": 96, "long": 128}  # the model's input: smaller than every test image
# Random mask logits hover around 0.5; larger ones give confident masks of random shapes,
# whose pixels do not flip between two exact ways of computing them.
MASK_GAIN = 10.0


def _config(paste: bool) -> dict:
    cfg = load_config(CONFIG, [f"+data.classes=[{','.join(CLASSES)}]"]).to_dict()
    resolve_num_classes(cfg)
    cfg["val_dataloader"]["dataset"]["transforms"] = [
        {"type": "ResizeShortLong", **RESIZE},
        {"type": "ToFloatImage"},
    ]
    cfg["model"]["roi_head"]["mask_postprocess"]["paste"] = paste
    return cfg


@pytest.fixture(scope="module")
def detectors(tmp_path_factory) -> dict[bool, Detector]:
    """The same weights with ``paste: true`` (``masks`` in the network input's pixels) and
    ``paste: false`` (``box_masks`` on each box's grid)."""
    torch.set_num_threads(1)
    cfg = _config(paste=True)
    model = randomise(MODELS.build(cfg["model"]))
    with torch.no_grad():
        model.roi_head.mask_predictor.logits.weight.mul_(MASK_GAIN)
    folder = tmp_path_factory.mktemp("ckpt")
    found = {}
    for paste in (True, False):
        cfg = _config(paste)
        path = save_checkpoint(folder / f"paste_{paste}.pth", copy.deepcopy(model), cfg)
        found[paste] = Detector(path, device="cpu")
    # DeployModel switches MaskRCNN to per-box masks (its mask_paste switch); switched back,
    # the detector pastes its masks in the network input, which Detector resizes
    found[True].model.detector.mask_paste = True
    return found


@pytest.fixture(scope="module")
def photos() -> list[torch.Tensor]:
    """Real photos of three sizes and aspects, all larger than the model's input: 187 x 301,
    263 x 149 (portrait), 160 x 213."""
    return bccd_images()


def _torchvision_masks(detector: Detector, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """By hand, as torchvision's GeneralizedRCNNTransform.postprocess does: the network on
    the resized image, its boxes scaled to the image, the per-box masks pasted there with
    torchvision's ``paste_masks_in_image``, thresholded at 0.5."""
    height, width = image.shape[-2:]
    x = EvalResize(**RESIZE)(image.float() / 255)
    with torch.no_grad():
        out = detector.model.detector([x])[0]
    h, w = x.shape[-2:]
    boxes = out["boxes"] * torch.tensor([width / w, height / h, width / w, height / h])
    masks = paste_masks_in_image(out["box_masks"], boxes, (height, width))[:, 0] >= 0.5
    return boxes, out["scores"], masks


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))


def test_box_masks_are_pasted_into_the_image_as_torchvision_pastes_them(detectors, photos):
    for image in photos:
        found = detectors[False].predict(image)
        boxes, scores, masks = _torchvision_masks(detectors[False], image)
        assert len(found) == len(boxes) > 10
        assert found.masks.dtype == torch.bool
        assert found.masks.shape == (len(found), *image.shape[-2:])  # the image's own size
        torch.testing.assert_close(found.boxes, boxes, atol=1e-3, rtol=0)
        assert torch.equal(found.masks, masks)
        assert found.masks.any(), "no mask pixel: nothing was compared"


def test_pasted_masks_are_resized_to_the_image(detectors, photos):
    """A detector that pastes its own masks in the network input (96 x 128 here): they are
    resized bilinearly to the image (as torchvision's v2 ``resize`` does), then thresholded.
    (Less exact than pasting at the image's size: detail finer than the network input's
    pixels is lost, which is why DeployModel asks MaskRCNN for per-box masks.)"""
    for image in photos:
        height, width = image.shape[-2:]
        found = detectors[True].predict(image)
        x = EvalResize(**RESIZE)(image.float() / 255)
        with torch.no_grad():
            out = detectors[True].model.detector([x])[0]
        assert out["masks"].shape[-2:] == x.shape[-2:]
        resized = TF.resize(out["masks"], [height, width], antialias=False)[:, 0] >= 0.5
        assert found.masks.shape == (len(found), height, width)
        assert torch.equal(found.masks, resized)
        assert found.masks.any()


def test_masks_are_the_same_batched_and_alone(detectors, photos):
    """187 x 301 and 160 x 213 both pad to 96 x 128 at the network (one call); 263 x 149
    runs alone."""
    for detector in detectors.values():
        batched = detector.predict(photos, batch_size=3)
        for image, together in zip(photos, batched, strict=True):
            alone = detector.predict(image)
            assert len(alone) == len(together) > 0
            torch.testing.assert_close(alone.boxes, together.boxes, atol=1e-3, rtol=0)
            assert alone.masks.shape == together.masks.shape
            assert _iou(alone.masks, together.masks).min() >= 0.99


def test_score_threshold_keeps_masks_with_their_boxes(detectors, photos):
    everything = detectors[False].predict(photos[0])
    high = detectors[False].predict(photos[0], score_thr=float(everything.scores[5]))
    assert len(high) == 6
    assert torch.equal(high.masks, everything.masks[:6])


def test_to_list_gives_each_mask_as_coco_rle(detectors, photos):
    found = detectors[False].predict(photos[1], score_thr=0.3)
    rows = found.to_list()
    assert len(rows) == len(found) > 0
    height, width = photos[1].shape[-2:]
    for row, mask in zip(rows, found.masks, strict=True):
        assert row["segmentation"]["size"] == [height, width]
        assert isinstance(row["segmentation"]["counts"], str)
        rle = {"size": row["segmentation"]["size"], "counts": row["segmentation"]["counts"]}
        assert np.array_equal(pycocotools_mask.decode(rle), mask.numpy().astype(np.uint8))


def test_infer_draws_masks_and_writes_them_as_rle(detectors, photos, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, image in enumerate(photos[:2]):
        PIL.Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"p{i}.png")
    checkpoint = detectors[False].source
    # about ten detections per photo: room between their boxes to see the photo unchanged
    thr = str(min(float(detectors[False].predict(p).scores[9]) for p in photos[:2]))
    args = [str(folder), "--out-dir", str(tmp_path / "out"), "--score-thr", thr]
    res = CliRunner().invoke(infer, [checkpoint, *args, "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "boxes and masks" in res.output
    entries = json.loads((tmp_path / "out" / "predictions.json").read_text())
    for i, image in enumerate(photos[:2]):
        found = detectors[False].predict(folder / f"p{i}.png", score_thr=float(thr))
        mine = [e for e in entries if e["image_id"] == i]
        assert len(mine) == len(found) > 0
        decoded = pycocotools_mask.decode([e["segmentation"] for e in mine])  # H x W x K
        assert np.array_equal(decoded.transpose(2, 0, 1), found.masks.numpy())
        drawn = np.asarray(PIL.Image.open(tmp_path / "out" / f"p{i}.png").convert("RGB"))
        assert drawn.shape[:2] == tuple(image.shape[-2:])
        # the same boxes and labels as without masks; mask pixels tinted, the others not
        plain = draw_detections(image, found.boxes, found.labels, CLASSES, found.scores)
        plain = plain.permute(1, 2, 0).numpy()
        inside = found.masks.any(0).numpy()
        bare = inside & (plain == image.permute(1, 2, 0).numpy()).all(-1)  # no box, no label
        assert bare.sum() > 50 and (~inside).sum() > 100
        assert np.array_equal(drawn[~inside], plain[~inside])
        assert (drawn[bare] != plain[bare]).any(-1).all()
