"""Instance masks in the pictures: ``draw_detections`` fills GT and predicted masks, the
prediction previews of a Mask R-CNN validation draw them at the drawn image's size, and
``detplug data show`` / ``data check --decode`` draw and count a shapes data set's masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detplug_hooks.drawing import GT_COLOR, MASK_ALPHA, PRED_COLOR, draw_detections
from PIL import Image


def _tinted(pixel: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    return np.round(pixel * (1 - MASK_ALPHA) + np.asarray(color) * MASK_ALPHA)


def test_gt_and_predicted_masks_are_filled_see_through_in_their_colours():
    image = torch.full((3, 40, 60), 100, dtype=torch.uint8)
    gt_masks = torch.zeros(1, 40, 60, dtype=torch.uint8)
    gt_masks[0, 5:15, 5:20] = 1
    masks = torch.zeros(2, 40, 60, dtype=torch.bool)
    masks[0, 20:35, 30:50] = True  # scores 0.9: drawn
    masks[1, 2:8, 40:55] = True  # scores 0.1: below score_thr, not drawn
    boxes = torch.tensor([[28.0, 18.0, 52.0, 37.0], [38.0, 0.0, 57.0, 10.0]])
    picture = draw_detections(
        image, torch.tensor([[3.0, 3.0, 22.0, 17.0]]), torch.tensor([0]),
        boxes, torch.tensor([0.9, 0.1]), torch.tensor([1, 0]),
        score_thr=0.5, gt_masks=gt_masks, masks=masks,
    )  # fmt: skip
    pixels = np.asarray(picture).astype(np.float64)
    grey = np.full(3, 100.0)
    assert np.array_equal(pixels[10, 12], _tinted(grey, GT_COLOR))
    assert np.array_equal(pixels[34, 45], _tinted(grey, PRED_COLOR))  # below its label
    assert np.array_equal(pixels[5, 45], grey)  # the low-scoring prediction's mask
    assert np.array_equal(pixels[30, 10], grey)  # outside every mask and box


def test_masks_are_enlarged_with_small_images():
    image = torch.zeros(3, 10, 20, dtype=torch.uint8)
    gt_masks = torch.zeros(1, 10, 20, dtype=torch.uint8)
    gt_masks[0, 6:9, 2:5] = 1
    none = torch.zeros(0)
    picture = draw_detections(
        image, torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, 4), none, none,
        min_side=40, gt_masks=gt_masks,
    )  # fmt: skip
    assert picture.size == (80, 40)  # 4x
    tinted = np.asarray(picture).any(-1)
    expected = np.zeros((40, 80), dtype=bool)
    expected[24:36, 8:20] = True
    assert np.array_equal(tinted, expected)


RECIPE = "mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml"


def _tiny_val_config(tmp_path) -> list[str]:
    """The shapes Mask R-CNN recipe validating a 128-px image resized to 96 px, its
    masks on each box's grid (paste: false), with previews."""
    return [
        "+train_dataloader.dataset.num_images=2",
        "train_dataloader.dataset.image_size=64",
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=false",
        "+val_dataloader.dataset.num_images=1",
        "val_dataloader.dataset.image_size=128",
        "imgsz=96",
        "val_dataloader.batch_size=1",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=false",
        "model.roi_head.mask_postprocess.paste=false",
        f"work_dir={tmp_path / 'work'}",
        "device=cpu",
        "hooks=[{type: PredictionPreviewHook, num_images: 1, score_thr: 0.0, max_boxes: 5}]",
    ]


def test_previews_of_a_mask_model_draw_gt_and_predicted_masks(tmp_path, monkeypatch):
    """The preview of the val image equals ``draw_detections`` of the dataset's own GT
    masks and of the model's best 5 masks pasted at its boxes in the 96-px image by
    torchvision's ``paste_masks_in_image`` (enlarged
    4x by min_side, so that labels cover little of them); without either it differs. A test
    run previews the same image as ``test_00.png``."""
    pytest.importorskip("detplug_mask_rcnn")
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    from detplug_core import Runner
    from detplug_core.config import load_config

    monkeypatch.setenv("DETPLUG_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    cfg = load_config(RECIPE, _tiny_val_config(tmp_path))
    cfg["val_dataloader"]["dataset"]["with_masks"] = True  # GT masks (the recipe may set it)
    with Runner(cfg) as runner:
        logits = runner.model.roi_head.mask_predictor.logits
        with torch.no_grad():  # each mask its whole box (initial ones hover around 0.5)
            logits.weight.zero_()
            logits.bias.fill_(5.0)
        runner.val()
        dataset = runner.val_dataloader.dataset
        model = runner.model.eval()
        image, target = dataset[0]
        assert target["masks"].shape[-2:] == image.shape[-2:] == (96, 96)
        with torch.inference_mode():
            out = model([image])[0]
        best = out["scores"].argsort(descending=True)[:5]
        boxes, scores, labels = out["boxes"][best], out["scores"][best], out["labels"][best]
        masks = paste_masks_in_image(out["box_masks"][best], boxes, (96, 96))[:, 0] >= 0.5
        args = (image, target["boxes"], target["labels"], boxes, scores, labels)
        kwargs = dict(classes=dataset.classes, score_thr=0.0, min_side=384)
        expected = np.asarray(
            draw_detections(*args, **kwargs, gt_masks=target["masks"], masks=masks)
        )
        bare = np.asarray(draw_detections(*args, **kwargs))
        gt_only = np.asarray(draw_detections(*args, **kwargs, gt_masks=target["masks"]))
        path = tmp_path / "work" / "previews" / "iter_0000000_00.png"
        drawn = np.asarray(Image.open(path).convert("RGB"))
        # boxes go from 96 to 128 px and back: a pixel may flip at a mask's edge
        assert (drawn != expected).any(-1).mean() < 0.002
        assert (drawn != gt_only).any(-1).mean() > 0.05  # the predicted masks
        assert (gt_only != bare).any(-1).mean() > 0.05  # the GT masks
        runner.test()  # detplug test: the val set again (the recipe has no test set)
        tested = np.asarray(Image.open(path.with_name("test_00.png")).convert("RGB"))
        assert np.array_equal(tested, drawn)


def test_data_show_draws_and_check_counts_the_masks_of_shapes(tmp_path, monkeypatch):
    """The recipe's train split (with_masks: true) drawn with its masks, exactly as
    ``draw_detections`` draws the dataset's own masks; counted by ``check --decode``."""
    pytest.importorskip("detplug_mask_rcnn")
    from click.testing import CliRunner
    from detplug_hooks.data_cli import build_splits, data_group, split_configs

    monkeypatch.setenv("DETPLUG_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    overrides = [
        "+train_dataloader.dataset.num_images=3",
        "train_dataloader.dataset.image_size=64",
        "+val_dataloader.dataset.num_images=2",
        "val_dataloader.dataset.image_size=64",
    ]
    res = CliRunner().invoke(data_group, ["show", RECIPE, *overrides, "--num", "2"])
    assert res.exit_code == 0, res.output
    [(_, dataset)] = build_splits({"train": split_configs(RECIPE, None, tuple(overrides))["train"]})
    assert dataset.with_masks
    drawn = sorted((tmp_path / "data_show").iterdir())
    assert len(drawn) == 2
    for path in drawn:
        image, target = dataset.load_raw(int(path.name.split("_")[1]))
        none = torch.zeros(0)
        args = (image, target["boxes"], target["labels"], torch.zeros(0, 4), none, none)
        kwargs = dict(classes=dataset.classes, min_side=256)
        expected = np.asarray(draw_detections(*args, **kwargs, gt_masks=target["masks"]))
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), expected)
        assert not np.array_equal(expected, np.asarray(draw_detections(*args, **kwargs)))
    res = CliRunner().invoke(data_group, ["check", RECIPE, *overrides, "--decode"])
    assert res.exit_code == 0, res.output
    boxes = sum(len(dataset.load_raw(i)[1]["boxes"]) for i in range(3))
    assert f"[train] 3 images, {boxes} boxes" in res.output
    assert f"  masks: {boxes}, 0 empty" in res.output
    assert "mask size sqrt(area) px: " in res.output
    # without --decode the masks are not loaded, and the report says so
    res = CliRunner().invoke(data_group, ["check", RECIPE, *overrides])
    assert "masks: one per box, not loaded" in res.output


def test_masks_flag_checks_and_draws_the_polygons_of_a_coco_json(tmp_path, monkeypatch):
    """``--masks`` on a COCO JSON (no config): the loader's mask clean-up printed as its box
    clean-up is (exit 0), the kept masks counted, and drawn as pycocotools rasterises them."""
    import json

    from click.testing import CliRunner
    from detplug_hooks.data_cli import data_group
    from pycocotools import mask as mask_utils

    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    for i, (h, w) in ((1, (40, 60)), (2, (30, 30))):
        Image.new("RGB", (w, h), (90, 90, 90)).save(tmp_path / "images" / f"{i}.png")
    square = [[5, 5, 30, 5, 30, 20, 5, 20]]
    anns = [
        (1, square, [5, 5, 25, 15]),
        (1, [[40, 10, 70, 10, 70, 35, 40, 35], [1, 1, 2, 2]], [40, 10, 20, 25]),  # cut; 2 points
        (2, [[5, 5, 10, 5, 15, 5]], [5, 5, 10, 2]),  # collinear: an empty mask
        (2, [[2, 2, 20, 2, 20, 20]], [2, 2, 18, 18]),
    ]
    coco = {
        "images": [
            {"id": 1, "file_name": "1.png", "height": 40, "width": 60},
            {"id": 2, "file_name": "2.png", "height": 30, "width": 30},
        ],
        "annotations": [
            {
                "id": k + 1,
                "image_id": i,
                "category_id": 1,
                "iscrowd": 0,
                "bbox": box,
                "segmentation": seg,
            }
            for k, (i, seg, box) in enumerate(anns)
        ],  # fmt: skip
        "categories": [{"id": 1, "name": "thing"}],
    }
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    common = ["ann.json", "--data-images", "images", "--masks"]
    res = CliRunner().invoke(data_group, ["check", *common, "--decode"])
    assert res.exit_code == 0, res.output
    assert "[train] 2 images, 3 boxes" in res.output
    assert "  masks: 3, 0 empty" in res.output
    assert "loader: 1 polygons of fewer than 3 points left out" in res.output
    assert "loader: 1 empty masks dropped" in res.output
    assert "loader: 1 masks reaching outside the image cut at its border" in res.output
    res = CliRunner().invoke(data_group, ["show", *common, "--num", "1"])
    assert res.exit_code == 0, res.output
    drawn = np.asarray(Image.open(tmp_path / "data_show" / "train_00000_1.png").convert("RGB"))
    assert drawn.shape == (280, 420, 3)  # enlarged 7x to min_side 256
    rle = mask_utils.merge(mask_utils.frPyObjects(square, 40, 60))
    inside = np.kron(mask_utils.decode(rle), np.ones((7, 7), np.uint8)).astype(bool)
    tinted = (drawn == np.round(90 * (1 - MASK_ALPHA) + np.asarray(GT_COLOR) * MASK_ALPHA)).all(-1)
    assert tinted[inside].mean() > 0.8  # the rest: the box's outline and label
    assert not tinted[:, :200][~inside[:, :200]].any()


def test_previews_bring_predicted_masks_to_the_drawn_image():
    """Predictions arrive in the original image's pixels (96 x 128, ``orig_size``); the
    drawn image is the 48 x 64 network input. Image-sized ``masks`` are resized to it as
    torchvision's v2 ``resize`` does; ``box_masks`` are pasted at the boxes scaled to it,
    as torchvision's ``paste_masks_in_image`` pastes."""
    from detplug_hooks.preview import PredictionPreviewHook
    from torchvision.models.detection.roi_heads import paste_masks_in_image
    from torchvision.transforms.v2 import functional as TF

    g = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[10.0, 8.0, 70.0, 60.0], [50.0, 30.0, 120.0, 90.0], [0, 0, 30, 20]])
    pred = {"boxes": boxes, "scores": torch.tensor([0.9, 0.8, 0.1]), "labels": torch.zeros(3)}
    image, target = torch.zeros(3, 48, 64), {"orig_size": (96, 128)}
    hook = PredictionPreviewHook(score_thr=0.5)
    full = torch.rand(3, 1, 96, 128, generator=g)
    drawn = hook._drawn_predictions(image, target, {**pred, "masks": full})
    torch.testing.assert_close(drawn["boxes"], boxes[:2] / 2)
    expected = TF.resize(full[:2], [48, 64], antialias=False)[:, 0] >= 0.5
    assert torch.equal(drawn["masks"], expected)
    grids = torch.rand(3, 1, 14, 14, generator=g)
    drawn = hook._drawn_predictions(image, target, {**pred, "box_masks": grids})
    expected = paste_masks_in_image(grids[:2], boxes[:2] / 2, (48, 64))[:, 0] >= 0.5
    assert torch.equal(drawn["masks"], expected)
    assert "masks" not in hook._drawn_predictions(image, target, pred)  # boxes only
