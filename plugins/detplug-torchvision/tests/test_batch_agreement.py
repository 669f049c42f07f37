"""Batched prediction against one-by-one prediction, measured against torchvision's own
batched FCOS on the same photos: detplug's batches must agree with its single predictions
at least as closely as torchvision's do with theirs, and no box may come from the padding
of a batch (or of one image)."""

from __future__ import annotations

import PIL.Image
import pytest
import torch
import torchvision
from deploy_utils import bccd_photos, build, randomise, save_checkpoint, to_tensor
from detplug_torchvision import Detector
from detplug_torchvision.deploy.parity import compare

SHORT, LONG = 128, 171  # the test-time resize of both models (small: a fast test)


@pytest.fixture(scope="module")
def photos() -> list[torch.Tensor]:
    """Photos of four sizes and aspects, one greyscale: a large one, and small ones that a
    batch pads to its size."""
    a, b, c = bccd_photos(3)
    return [
        to_tensor(a.resize((600, 400), PIL.Image.BILINEAR)),  # 400 x 600
        to_tensor(b.crop((0, 0, 240, 156))),  # 156 x 240
        to_tensor(c.crop((100, 100, 428, 254))),  # 154 x 328
        to_tensor(a.convert("L").resize((200, 150), PIL.Image.BILINEAR)),  # grey 150 x 200
    ]


@pytest.fixture(scope="module")
def detector(tmp_path_factory) -> Detector:
    torch.set_num_threads(1)
    model, cfg = build("fcos")
    cfg["val_dataloader"]["dataset"]["transforms"] = [
        {"type": "ResizeShortLong", "short": SHORT, "long": LONG},
        {"type": "ToFloatImage"},
    ]
    return Detector(save_checkpoint(tmp_path_factory.mktemp("c") / "m.pth", model, cfg), "cpu")


def _agreement(single: list[tuple], batched: list[tuple], photos: list[torch.Tensor]) -> dict:
    """Over all photos: the share of single detections matched in the batched ones and
    the largest box (of the image size) and score differences."""
    matched = total = 0
    box = score = 0.0
    for s, b, photo in zip(single, batched, photos, strict=True):
        parity = compare(s, b, tuple(photo.shape[-2:]))
        matched += parity.matched
        total += max(len(s[1]), len(b[1]))
        box, score = max(box, parity.box_diff), max(score, parity.score_diff)
    return {"matched": matched / max(total, 1), "box": box, "score": score}


def _numpy(out: dict) -> tuple:
    return tuple(out[k].detach().numpy() for k in ("boxes", "scores", "labels"))


@torch.inference_mode()
def torchvision_agreement(photos: list[torch.Tensor]) -> dict:
    """torchvision's FCOS-R50 (random weights, the same resize), batched against single."""
    model = torchvision.models.detection.fcos_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=3, min_size=SHORT, max_size=LONG
    )
    randomise(model).eval()
    images = [p.float() / 255 for p in photos]
    single = [_numpy(model([image])[0]) for image in images]
    batched = [_numpy(out) for out in model(images)]
    return _agreement(single, batched, photos)


def _assert_nothing_from_padding(found, photo: torch.Tensor) -> None:
    height, width = photo.shape[-2:]
    boxes = found.boxes
    assert len(found) > 0
    assert bool((boxes[:, 0] < width).all()) and bool((boxes[:, 1] < height).all()), (
        f"{int((boxes[:, 0] >= width).sum())} boxes start at or right of x = {width}, "
        f"{int((boxes[:, 1] >= height).sum())} at or below y = {height}: from the padding"
    )


@pytest.mark.slow
def test_batches_agree_with_single_predictions_at_least_as_torchvisions_do(detector, photos):
    single = [detector.predict(p) for p in photos]
    batched = detector.predict(photos, batch_size=4)
    ours = _agreement(
        [(d.boxes.numpy(), d.scores.numpy(), d.labels.numpy()) for d in single],
        [(d.boxes.numpy(), d.scores.numpy(), d.labels.numpy()) for d in batched],
        photos,
    )
    theirs = torchvision_agreement(photos)
    assert ours["matched"] >= theirs["matched"], (ours, theirs)
    assert ours["box"] <= max(theirs["box"], 1e-5) and ours["score"] <= max(theirs["score"], 1e-5)
    # and in absolute terms: the same detections
    assert ours["matched"] == 1.0 and ours["box"] < 1e-5 and ours["score"] < 1e-5, ours
    for found, photo in zip(batched, photos, strict=True):
        assert found.image_size == tuple(photo.shape[-2:])
        _assert_nothing_from_padding(found, photo)


def test_no_box_comes_from_the_padding_of_one_image(detector, photos):
    """One image is padded too (154 x 328 resizes to 80 x 171, padded to 96 x 192): the
    points right of or below the image must give no boxes (clipped to the image, they
    were zero-width boxes on its right edge, zero-height ones on its bottom edge)."""
    for photo in photos:
        _assert_nothing_from_padding(detector.predict(photo), photo)
