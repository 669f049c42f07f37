"""PredictionPreviewHook writes PNGs with GT and predicted boxes into work_dir/previews."""

from __future__ import annotations

import torch
from detplug_hooks.drawing import GT_COLOR, PRED_COLOR, draw_detections
from detplug_hooks.preview import to_image_pixels
from PIL import Image


def test_previews_are_written_every_interval_validations(kit, tmp_path):
    hooks = [{"type": "PredictionPreviewHook", "interval": 2, "num_images": 3, "score_thr": 0}]
    cfg = kit.tiny_config(tmp_path, hooks)
    cfg["val_dataloader"]["dataset"]["size"] = 48
    kit.run_training(cfg)  # validations after iterations 3 and 6: the second is previewed
    files = sorted(p.name for p in (tmp_path / "previews").iterdir())
    assert files == ["iter_0000006_00.png", "iter_0000006_01.png", "iter_0000006_02.png"]
    for name in files:
        image = Image.open(tmp_path / "previews" / name).convert("RGB")
        assert image.size == (384, 384)  # enlarged 8x: min_side defaults to 384
        colors = {c for _, c in image.getcolors(384 * 384)}
        assert GT_COLOR in colors and PRED_COLOR in colors


def test_predictions_are_scaled_from_original_to_input_pixels():
    image = torch.zeros(3, 50, 100)
    boxes = torch.tensor([[0.0, 0.0, 200.0, 100.0]])
    scaled = to_image_pixels(boxes, image, {"orig_size": (100, 200)})
    assert scaled.tolist() == [[0.0, 0.0, 100.0, 50.0]]


def test_small_images_are_enlarged_by_a_whole_factor_with_their_boxes():
    image = torch.zeros(3, 32, 64)
    gt = torch.tensor([[2.0, 3.0, 20.0, 30.0]])
    pred = torch.tensor([[40.0, 4.0, 60.0, 28.0]])
    kwargs = dict(scores=torch.tensor([0.9]), labels=torch.tensor([0]), score_thr=0.5)
    big = draw_detections(image, gt, torch.tensor([0]), pred, min_side=100, **kwargs)
    assert big.size == (256, 128)  # ceil(100 / 32) = 4
    assert big.getpixel((8, 12)) == GT_COLOR  # the GT box's corner, 4x
    assert big.getpixel((160, 16)) == PRED_COLOR
    assert big.getpixel((100, 100)) == (0, 0, 0)
    same = draw_detections(image, gt, torch.tensor([0]), pred, min_side=0, **kwargs)
    assert same.size == (64, 32) and same.getpixel((2, 3)) == GT_COLOR
