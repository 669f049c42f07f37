"""The public prediction API: one checkpoint, every kind of input, boxes in each image's
own pixels, batches, score thresholds, class names; and its errors."""

from __future__ import annotations

import PIL.Image
import pytest
import torch
from deploy_utils import CLASSES, bccd_images, build, save_checkpoint
from detplug_torchvision import Detections, Detector
from detplug_torchvision.deploy.resize import EvalResize

from detplug_core.errors import CheckpointError, DataError


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.set_num_threads(1)
    model, cfg = build("fcos")
    # A test-time resize, so that boxes must be mapped back to each image's pixels.
    cfg["val_dataloader"]["dataset"]["transforms"] = [
        {"type": "ResizeShortLong", "short": 96, "long": 128},
        {"type": "ToFloatImage"},
    ]
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "latest.pth", model, cfg)


@pytest.fixture(scope="module")
def detector(checkpoint):
    return Detector(checkpoint, device="cpu")


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A BCCD crop (a real JPEG photo) saved as a file, and its pixels."""
    image = bccd_images()[0]
    path = tmp_path_factory.mktemp("img") / "cells.png"
    PIL.Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)
    return path, image


def _same(a: Detections, b: Detections) -> None:
    assert len(a) == len(b) > 0
    torch.testing.assert_close(a.boxes, b.boxes, atol=1e-3, rtol=0)
    torch.testing.assert_close(a.scores, b.scores, atol=1e-5, rtol=0)
    assert a.labels.tolist() == b.labels.tolist()


def test_every_input_kind_gives_the_same_detections(detector, photo):
    path, image = photo
    ref = detector.predict(path)
    assert isinstance(ref, Detections) and ref.image_size == tuple(image.shape[-2:])
    _same(ref, detector.predict(str(path)))
    _same(ref, detector.predict(PIL.Image.open(path)))
    _same(ref, detector.predict(image.permute(1, 2, 0).numpy()))  # H x W x 3 RGB
    _same(ref, detector.predict(image))  # uint8 [3, H, W]
    _same(ref, detector.predict(image.float() / 255))  # float 0..1


def test_boxes_are_in_the_images_own_pixels(detector):
    """Upscaling an image 2x (the model sees the same resized pixels) doubles the boxes."""
    small = bccd_images()[2]  # 160 x 213
    big = torch.nn.functional.interpolate(small[None].float(), scale_factor=2.0)[0]
    a = detector.predict(small.float() / 255)
    b = detector.predict(big / 255)
    h, w = small.shape[-2:]
    assert b.image_size == (2 * h, 2 * w)
    assert float(a.boxes[:, 0::2].max()) <= w and float(b.boxes[:, 0::2].max()) > w
    # Same detections up to the interpolation of the input (the two resized inputs differ
    # slightly, so the order of near-equal scores may too): each of the small image's most
    # confident boxes is among the big image's, halved.
    # (random weights give thin boxes, so they are matched by coordinates, not by IoU)
    gap = (a.boxes[:5, None, :] - b.boxes[None, :20, :] / 2).abs().amax(dim=2)  # [5, 20]
    assert len(a) >= 5 and bool((gap.min(dim=1).values < 3.0).all()), gap.min(dim=1).values


def test_lists_and_batches(detector, photo):
    path, image = photo
    images = bccd_images()
    one_by_one = [detector.predict(im) for im in images]
    listed = detector.predict(images)
    assert isinstance(listed, list) and len(listed) == 3
    for a, b in zip(one_by_one, listed, strict=True):
        _same(a, b)
    batched = detector.predict(images, batch_size=3)  # one padded batch
    for a, b in zip(one_by_one, batched, strict=True):
        assert b.image_size == a.image_size
        assert abs(len(a) - len(b)) <= 10
    stacked = torch.stack([image, image])  # [N, 3, H, W] is a list of N
    assert len(detector.predict(stacked)) == 2


def test_score_threshold_and_class_names(detector, photo):
    path, _ = photo
    all_ = detector.predict(path)
    some = detector.predict(path, score_thr=float(all_.scores[len(all_) // 2]))
    assert 0 < len(some) < len(all_)
    assert bool((some.scores >= float(all_.scores[len(all_) // 2])).all())
    assert detector.classes == CLASSES
    assert some.class_names == [CLASSES[i] for i in some.labels.tolist()]
    row = some.to_list()[0]
    assert set(row) == {"box", "score", "label", "class_name"} and len(row["box"]) == 4
    assert some.masks is None  # a boxes-only model


def test_from_config_and_weights(checkpoint, photo, tmp_path):
    path, _ = photo
    ckpt = torch.load(checkpoint, weights_only=True)
    import yaml

    cfg_file = tmp_path / "model.yaml"
    cfg_file.write_text(yaml.safe_dump(ckpt["config"]))
    from_cfg = Detector.from_config(cfg_file, checkpoint, device="cpu")
    _same(Detector(checkpoint, device="cpu").predict(path), from_cfg.predict(path))


def test_bad_inputs_are_one_clear_error(detector, tmp_path):
    with pytest.raises(DataError, match="expected a \\[3, H, W\\] tensor"):
        detector.predict(torch.zeros(5, 8, 8))
    with pytest.raises(DataError, match="expected a path, PIL image"):
        detector.predict([1.5])
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DataError, match="broken.jpg"):
        detector.predict(bad)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        Detector(bad, device="cpu")


def test_files_are_read_by_the_one_reader(checkpoint, tmp_path):
    """load_model reads through read_checkpoint: its messages for a missing file and a
    file without a config; a ``state_dict``-wrapped, ``module.``-prefixed copy of the
    weights loads like the run's own file."""
    from detplug_torchvision.inference.loading import load_model

    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.pth"):
        load_model(tmp_path / "nope.pth")
    ckpt = torch.load(checkpoint, weights_only=True)
    bare = tmp_path / "bare.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ckpt["model"].items()}}, bare)
    with pytest.raises(CheckpointError, match="not a detplug training checkpoint"):
        load_model(bare)
    import yaml

    cfg_file = tmp_path / "model.yaml"
    cfg_file.write_text(yaml.safe_dump(ckpt["config"]))
    loaded = load_model(cfg_file, bare)
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, ckpt["model"][key])


def test_eval_resize_matches_resize_short_long():
    from detplug_torchvision.transforms.resize import short_long_size

    resize = EvalResize(short=800, long=1333)
    for h, w in [(480, 640), (333, 517), (1000, 64), (799, 1201), (37, 41)]:
        assert resize.output_size(h, w) == short_long_size(h, w, 800, 1333)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(checkpoint, photo):
    path, _ = photo
    cpu = Detector(checkpoint, device="cpu").predict(path)
    gpu = Detector(checkpoint, device="cuda").predict(path)
    assert gpu.boxes.device.type == "cpu"
    torch.testing.assert_close(gpu.boxes[:10], cpu.boxes[:10], atol=1e-2, rtol=0)


def test_a_16_bit_pil_image_is_scaled_as_its_file_is(detector, tmp_path):
    """A 16-bit greyscale PNG opened with PIL (mode I;16) gives what its path gives; it
    used to be clipped to white (every pixel above 255)."""
    grey = bccd_images()[0].float().mean(dim=0).round().to(torch.int32)  # [H, W] 0..255
    path = tmp_path / "grey16.png"
    PIL.Image.fromarray((grey * 257).numpy().astype("uint16")).save(path)
    opened = PIL.Image.open(path)
    assert opened.mode.startswith("I")
    _same(detector.predict(path), detector.predict(opened))
    eight_bit = grey.to(torch.uint8).numpy()  # the same picture in 8 bits
    _same(detector.predict(path), detector.predict(eight_bit))


def test_a_pil_image_is_seen_as_displayed_like_its_file(detector, tmp_path):
    """EXIF orientation 6 (rotate to display): by path and as a PIL image, the same
    displayed frame, so the same boxes."""
    image = PIL.Image.fromarray(bccd_images()[0].permute(1, 2, 0).numpy())  # 301 x 187
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.jpg"
    image.save(path, exif=exif, quality=95)
    by_path = detector.predict(path)
    by_pil = detector.predict(PIL.Image.open(path))
    assert by_path.image_size == by_pil.image_size == (301, 187)
    _same(by_path, by_pil)


def test_float_pixels_outside_0_to_1_and_empty_images_are_refused(detector):
    image = bccd_images()[0].permute(1, 2, 0).numpy()
    with pytest.raises(DataError, match=r"image 0: float pixels must be in 0\.\.1.*255"):
        detector.predict(image.astype("float32"))
    with pytest.raises(DataError, match=r"image 1: float pixels must be in 0\.\.1"):
        detector.predict([image, torch.from_numpy(image).permute(2, 0, 1).float()])
    with pytest.raises(DataError, match="image 0: empty image \\(0 x 0 pixels\\)"):
        detector.predict(image[:0, :0])
    with pytest.raises(DataError, match="empty image"):
        detector.predict(torch.zeros(3, 5, 0, dtype=torch.uint8))
