"""Mosaic, MixUp, the scale/crop/pad steps and MultiImageMixDataset (docs/augmentation.md)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch
import yaml
from detplug_torchvision import MultiImageMixDataset
from detplug_torchvision.transforms import MixUp, Mosaic, PadTo, RandomCropUpTo, RandomScale
from mix_samples import SIZES, painted_sample
from torch.utils.data import DataLoader
from torchvision import tv_tensors

from detplug_core import DATASETS, HOOKS, TRANSFORMS
from detplug_core.errors import BuildError


def four_samples():
    out = []
    for k, (h, w) in enumerate(SIZES):
        boxes = [[2, 3, w // 2, h // 2]] + ([[w // 2 + 1, h // 2, w - 1, h - 2]] if k % 2 else [])
        out.append(painted_sample(k, h, w, boxes))
    return out


def assert_boxes_on_their_pixels(image: torch.Tensor, target: dict, slack: float = 2.0) -> None:
    """Each box of label k covers image k's pixels (channel 1 = 40 (k+1)) painted as an
    object (channel 0 = 255), and every such pixel lies in a box of label k."""
    image = image.as_subclass(torch.Tensor)
    boxes = target["boxes"].as_subclass(torch.Tensor)
    labels = target["labels"]
    assert len(boxes) == len(labels) == len(target["ignore"])
    ys, xs = torch.meshgrid(
        torch.arange(image.shape[1]) + 0.5, torch.arange(image.shape[2]) + 0.5, indexing="ij"
    )
    for k in labels.unique().tolist():
        painted = (image[0] >= 250) & ((image[1].int() - 40 * (k + 1)).abs() <= 1)
        inside = torch.zeros_like(painted)
        for x1, y1, x2, y2 in boxes[labels == k].tolist():
            inside |= (xs > x1 - slack) & (xs < x2 + slack) & (ys > y1 - slack) & (ys < y2 + slack)
            core = (xs > x1 + slack) & (xs < x2 - slack) & (ys > y1 + slack) & (ys < y2 - slack)
            assert painted[core].all(), (k, (x1, y1, x2, y2))
        assert not (painted & ~inside).any(), k


@pytest.mark.parametrize("seed", range(6))
def test_mosaic_puts_four_images_on_a_2x_canvas_with_boxes_on_their_pixels(seed):
    torch.manual_seed(seed)
    first, *others = four_samples()
    image, target = Mosaic(size=32).mix(first, others)
    assert isinstance(image, tv_tensors.Image) and image.dtype == torch.uint8
    assert image.shape == (3, 64, 64)
    assert target["boxes"].canvas_size == (64, 64)
    assert_boxes_on_their_pixels(image, target)
    assert target["ignore"].tolist() == (target["labels"] == 2).tolist()
    assert target["image_id"] == 0 and target["file_name"] == "0.png"
    assert (image[1] == 114).any()  # some canvas is fill (centre away from the middle)


def test_mosaic_drops_boxes_cut_off_the_canvas_and_keeps_labels_aligned():
    torch.manual_seed(0)
    first, *others = four_samples()
    mosaic = Mosaic(size=32, center_range=[0.1, 0.2])  # top-left image almost all cut off
    image, target = mosaic.mix(first, others)
    assert_boxes_on_their_pixels(image, target)
    boxes = target["boxes"].as_subclass(torch.Tensor)
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
    assert (boxes >= 0).all() and (boxes <= 64).all()


def test_mosaic_mixes_greyscale_with_rgb_and_float_images_get_a_scaled_fill():
    torch.manual_seed(1)
    first, *others = four_samples()
    grey = (tv_tensors.Image(first[0][1:2]), first[1])
    image, _ = Mosaic(size=16).mix(grey, others)
    assert image.shape == (3, 32, 32)
    floats = [(img.float() / 255, t) for img, t in four_samples()]
    image, _ = Mosaic(size=16, center_range=[1.5, 1.5]).mix(floats[0], floats[1:])
    assert image.dtype == torch.float32
    assert torch.isclose(image[:, 0, 0], torch.tensor(114 / 255)).all()


def test_mixup_blends_the_pixels_and_concatenates_the_boxes():
    torch.manual_seed(0)
    base = painted_sample(0, 32, 32, [[20, 20, 28, 28]], value=100)
    partner = painted_sample(3, 16, 16, [[4, 4, 12, 12]], value=255)
    mixup = MixUp(size=16, ratio_range=[1.0, 1.0], flip_p=0.0, alpha=0.5)
    image, target = mixup.mix(base, [partner])
    assert image.shape == (3, 32, 32)
    assert target["labels"].tolist() == [0, 3]
    assert target["boxes"][0].tolist() == [20, 20, 28, 28]
    x1, y1, x2, y2 = (int(v) for v in target["boxes"][1].tolist())
    assert (x2 - x1, y2 - y1) == (8, 8)
    # the partner's box: (0 + 255) / 2 in channel 0; the own box: (100 + fill 114) / 2
    assert (image[0, y1:y2, x1:x2] == 128).all()
    assert (image[1, y1:y2, x1:x2] == (40 + 160) / 2).all()
    assert (image[0, 20:28, 20:28] == 107).all()


def test_mixup_partner_larger_than_the_image_is_cut_with_its_boxes():
    torch.manual_seed(3)
    base = painted_sample(0, 12, 20, [[1, 1, 6, 6]])
    partner = painted_sample(1, 40, 40, [[0, 0, 40, 40]])
    image, target = MixUp(size=40, ratio_range=[1.0, 1.0], flip_p=1.0).mix(base, [partner])
    assert image.shape == (3, 12, 20)
    assert target["boxes"][1].tolist() == [0, 0, 20, 12]
    assert target["boxes"].canvas_size == (12, 20)


def test_multi_image_transforms_refuse_to_run_without_partners():
    image, target = four_samples()[0]
    with pytest.raises(TypeError, match="MultiImageMixDataset"):
        Mosaic()(image, target)
    with pytest.raises(BuildError, match="p must be"):
        MixUp(p=2)
    with pytest.raises(BuildError, match="center_range"):
        Mosaic(center_range=[0.5, 3])


def test_scale_crop_and_pad_move_the_boxes():
    torch.manual_seed(0)
    image, target = painted_sample(1, 20, 40, [[4, 4, 20, 10]])
    image, target = RandomScale(scale=80, ratio_range=[1.0, 1.0])(image, target)
    assert image.shape[-2:] == (40, 80)
    assert target["boxes"].tolist() == [[8, 8, 40, 20]]
    image, target = RandomCropUpTo(size=[100, 30])(image, target)
    assert image.shape[-2:] == (40, 30)
    image, target = PadTo(size=50)(image, target)
    assert image.shape[-2:] == (50, 50) and target["boxes"].canvas_size == (50, 50)
    assert (image[:, 45, 45] == 114).all()
    assert_boxes_on_their_pixels(image, target, slack=1.0)


def test_wrapper_runs_stage_0_or_1_and_is_reproducible(detplug_plugin):
    detplug_plugin.load_module("mix_testkit")
    from mix_testkit import pipeline

    ds = DATASETS.build(pipeline(size=16))
    assert isinstance(ds, MultiImageMixDataset) and ds.classes[0] == "c0" and len(ds) == 8
    torch.manual_seed(5)
    a = ds[3]
    torch.manual_seed(5)
    b = ds[3]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["boxes"], b[1]["boxes"])
    assert a[0].shape == (3, 16, 16) and a[0].dtype == torch.float32
    ds.set_stage(1)
    sizes = {tuple(ds[i][0].shape) for i in range(8)}
    assert sizes != {(3, 16, 16)}  # no PadTo after the switch
    with pytest.raises(ValueError, match="stage 2"):
        ds.set_stage(2)


def _write_yolo(root, n=4):
    from PIL import Image

    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        h, w = SIZES[i]
        image, _ = painted_sample(i, h, w, [[2, 3, w // 2, h // 2]])
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / "images" / f"{i}.png")
        cx, cy, bw, bh = (
            (2 + w // 2) / 2 / w,
            (3 + h // 2) / 2 / h,
            (w // 2 - 2) / w,
            (h // 2 - 3) / h,
        )
        (root / "labels" / f"{i}.txt").write_text(f"{i % 2} {cx} {cy} {bw} {bh}\n")
    (root / "data.yaml").write_text("path: .\ntrain: images\nnames: [a, b]\n")
    return root / "data.yaml"


def _write_coco(root, n=4):
    import json

    from PIL import Image

    (root / "img").mkdir(parents=True)
    images, anns = [], []
    for i in range(n):
        h, w = SIZES[i]
        image, _ = painted_sample(i, h, w, [[2, 3, w // 2, h // 2]])
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / "img" / f"{i}.png")
        images.append({"id": i + 1, "file_name": f"{i}.png", "height": h, "width": w})
        box = [2, 3, w // 2 - 2, h // 2 - 3]
        anns.append(
            {"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 2, "bbox": box,
             "area": box[2] * box[3], "iscrowd": int(i == 3)}
        )  # fmt: skip
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    (root / "ann.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats})
    )


def _write_voc(root, n=4):
    from PIL import Image

    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for i in range(n):
        h, w = SIZES[i]
        image, _ = painted_sample(i, h, w, [[2, 3, w // 2, h // 2]])
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / "JPEGImages" / f"{i}.png")
        (root / "Annotations" / f"{i}.xml").write_text(
            f"<annotation><size><width>{w}</width><height>{h}</height></size><object>"
            f"<name>{'ab'[i % 2]}</name><difficult>{int(i == 3)}</difficult><bndbox>"
            f"<xmin>3</xmin><ymin>4</ymin><xmax>{w // 2}</xmax><ymax>{h // 2}</ymax>"
            "</bndbox></object></annotation>"
        )
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("".join(f"{i}\n" for i in range(n)))


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_wrapper_over_coco_voc_and_yolo_datasets(fmt, tmp_path):
    if fmt == "coco":
        pytest.importorskip("detplug_coco")
        _write_coco(tmp_path)
        inner = {"type": "CocoDataset", "ann_file": str(tmp_path / "ann.json"),
                 "img_dir": str(tmp_path / "img")}  # fmt: skip
    elif fmt == "voc":
        pytest.importorskip("detplug_voc")
        _write_voc(tmp_path)
        inner = {"type": "VOCDataset", "data_root": str(tmp_path), "classes": ["a", "b"],
                 "img_suffix": ".png"}  # fmt: skip
    else:
        pytest.importorskip("detplug_yolo_format")
        inner = {"type": "YoloDataset", "data": str(_write_yolo(tmp_path))}
    inner["transforms"] = [{"type": "RandomHorizontalFlip", "p": 0.5}]  # its own, per sample
    ds = DATASETS.build(
        {
            "type": "MultiImageMixDataset",
            "dataset": inner,
            "transforms": [
                {"type": "Mosaic", "size": 32, "fill": 0},
                {"type": "MixUp", "size": 32, "p": 0.5, "fill": 0},
                {"type": "SanitizeBoxes"},
            ],
        }
    )
    assert ds.classes == ["a", "b"]
    torch.manual_seed(0)
    for i in range(len(ds)):
        image, target = ds[i]
        assert image.shape == (3, 64, 64)
        boxes = target["boxes"]
        assert len(boxes) == len(target["labels"]) == len(target["ignore"]) > 0
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert target["labels"].dtype == torch.int64 and set(target["labels"].tolist()) <= {0, 1}
        # every box holds object pixels (channel 0: 255, 128 when blended by MixUp)
        for x1, y1, x2, y2 in boxes.round().int().tolist():
            assert image[0, y1:y2, x1:x2].max() >= 100


def test_stage_set_in_the_main_process_reaches_persistent_workers(detplug_plugin):
    detplug_plugin.load_module("mix_testkit")
    from mix_testkit import pipeline

    ds = DATASETS.build(pipeline(size=16))
    loader = DataLoader(
        ds, batch_size=4, num_workers=2, persistent_workers=True, collate_fn=lambda b: b
    )

    def dtypes():  # float32: stage 0, float64: stage 1 (mix_testkit.pipeline)
        return {str(img.dtype) for batch in loader for img, _ in batch}

    first = dtypes()
    workers = loader._iterator._workers  # the same processes in every pass
    ds.set_stage(1)
    second = dtypes()
    assert loader._iterator._workers is workers
    assert first == {"torch.float32"} and second == {"torch.float64"}
    ds.set_stage(0)
    assert dtypes() == {"torch.float32"}


def test_registered_in_the_torchvision_scope():
    assert TRANSFORMS.get("torchvision.Mosaic") is Mosaic
    assert DATASETS.get("torchvision.MultiImageMixDataset") is MultiImageMixDataset


DOC = Path(__file__).parents[3] / "docs" / "augmentation.md"


@pytest.mark.skipif(not DOC.is_file(), reason="outside the detplug repository")
def test_the_documented_rtmdet_recipe_builds_and_gives_640_samples(detplug_plugin):
    detplug_plugin.load_module("mix_testkit")
    text = DOC.read_text()
    block = re.search(r"<!-- example: rtmdet_coco -->\n```yaml\n(.*?)```", text, re.DOTALL)
    cfg = yaml.safe_load(block.group(1))
    dataset_cfg = cfg["train_dataloader"]["dataset"]
    dataset_cfg["dataset"] = {"type": "mixtest.PaintedDataset"}  # in place of COCO
    ds = DATASETS.build(dataset_cfg)
    torch.manual_seed(0)
    image, target = ds[0]
    assert image.shape == (3, 640, 640) and image.dtype == torch.float32
    assert len(target["boxes"]) == len(target["labels"]) > 0
    ds.set_stage(1)
    assert ds[1][0].shape == (3, 640, 640)
    assert [h["type"] for h in cfg["hooks"]] == ["PipelineSwitchHook", "EMAHook"]
    assert HOOKS.build(cfg["hooks"][0]).last_epochs == 20
    if importlib.util.find_spec("detplug_hooks"):
        assert HOOKS.build(cfg["hooks"][1]).warmup == "exp_momentum"


def test_images_without_boxes_mix_into_empty_targets():
    samples = [painted_sample(i, 10 + i, 12, []) for i in range(4)]
    image, target = Mosaic(size=8).mix(samples[0], samples[1:])
    assert image.shape == (3, 16, 16) and target["boxes"].shape == (0, 4)
    assert target["labels"].shape == (0,) and target["ignore"].dtype == torch.bool
    image, target = MixUp(size=8).mix(samples[0], samples[1:2])
    assert image.shape == (3, 10, 12) and target["boxes"].shape == (0, 4)
