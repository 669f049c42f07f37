"""YoloDataset with ``with_masks: true``: Ultralytics segmentation rows become instance
masks, checked against an independent rasteriser (matplotlib's point-in-polygon test at the
pixel centres); dirty polygons are reported by file and line; a recipe with masks keeps
``with_masks`` through ``--data`` and trains on a segmentation export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from detplug_torchvision.testing.recipes import train_two_iterations
from detplug_yolo_format.dataset import YoloDataset
from matplotlib.path import Path as PolygonPath
from PIL import Image
from torchvision import tv_tensors
from yolo_fixtures import (
    polygon_row,
    random_polygon,
    segment_dataset,
    write_data_yaml,
    write_image,
    write_labels,
    yolo_row,
)

from detplug_core import TRANSFORMS
from detplug_core.config import load_config
from detplug_core.data.source import apply_data_source, find_data_source
from detplug_core.errors import DataError

W, H = 160, 120
MASK_RECIPE = "mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml"


def one_image(root: Path, rows: list[str], width: int = W, height: int = H) -> Path:
    write_image(root / "images" / "train" / "a.jpg", width, height)
    write_labels(root / "labels" / "train" / "a.txt", rows)
    return write_data_yaml(root, train="images/train")


def reference_mask(points, width: int = W, height: int = H) -> np.ndarray:
    """Pixels whose centre lies inside the polygon (``points`` in pixels)."""
    ys, xs = np.mgrid[0:height, 0:width]
    centres = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
    return PolygonPath(np.asarray(points)).contains_points(centres).reshape(height, width)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_polygon_masks_match_an_independent_rasteriser(tmp_path):
    rng = np.random.default_rng(3)
    polygons = [random_polygon(rng, W, H, n=5 + k) for k in range(4)]
    data = one_image(tmp_path, [polygon_row(k % 2, p, W, H) for k, p in enumerate(polygons)])
    ds = YoloDataset(str(data), with_masks=True)
    _, target = ds.load_raw(0)
    masks = target["masks"]
    assert isinstance(masks, tv_tensors.Mask) and masks.dtype == torch.uint8
    assert masks.shape == (4, H, W)
    for k, points in enumerate(polygons):
        mine = masks[k].numpy().astype(bool)
        assert iou(mine, reference_mask(points)) > 0.98, k
        # the row's box is the polygon's bounding box (Ultralytics' rule)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        expected = [min(xs), min(ys), max(xs), max(ys)]
        np.testing.assert_allclose(target["boxes"][k].tolist(), expected, atol=1e-3)
    assert target["labels"].tolist() == [0, 1, 0, 1]
    assert ds.report.dirty == set()


def test_a_box_row_among_polygons_gets_its_filled_box_and_is_counted(tmp_path):
    triangle = [(20, 10), (100, 30), (50, 90)]
    box = (30, 40, 90, 100)
    data = one_image(tmp_path, [polygon_row(0, triangle, W, H), yolo_row(1, box, W, H)])
    ds = YoloDataset(str(data), with_masks=True)
    _, target = ds.load_raw(0)
    filled = np.zeros((H, W), bool)
    filled[40:100, 30:90] = True
    assert np.array_equal(target["masks"][1].numpy().astype(bool), filled)
    assert iou(target["masks"][0].numpy().astype(bool), reference_mask(triangle)) > 0.98
    counted = ds.report.counts["box rows given their filled box as mask"]
    assert counted.count == 1 and counted.first.endswith("a.txt:2")


def test_boxes_only_with_masks_is_refused_naming_the_file(tmp_path):
    data = one_image(tmp_path, [yolo_row(0, (10, 10, 50, 50), W, H)])
    with pytest.raises(DataError, match=r"with_masks: true but no label file has a polygon row"
                       r".*first: .*a\.txt:1\).*detection data set"):  # fmt: skip
        YoloDataset(str(data), with_masks=True)
    assert len(YoloDataset(str(data))) == 1  # without masks it is a detection set


def test_dirty_polygons_are_reported_by_file_and_line(tmp_path):
    good = [(20, 20), (60, 20), (40, 60)]
    rows = [
        polygon_row(0, good, W, H),  # 1: kept
        "0 0.1 0.1 0.2 0.2 0.3 0.3 0.4",  # 2: odd number of coordinates
        polygon_row(1, [(10, 10), (10, 10), (30, 30)], W, H),  # 3: two distinct points
        polygon_row(1, [(-30, 70), (100, 70), (100, 110)], W, H),  # 4: clipped, kept
        polygon_row(0, [(5.1, 5.1), (5.3, 5.1), (5.1, 5.3)], W, H),  # 5: no pixel centre
        polygon_row(0, good, W, H),  # 6: repeats line 1
    ]
    data = one_image(tmp_path, rows)
    ds = YoloDataset(str(data), with_masks=True)
    first = {
        reason: (c.count, c.first.rsplit(":", 1)[-1]) for reason, c in ds.report.counts.items()
    }
    assert first == {
        "polygons with an odd number of coordinates dropped": (1, "2"),
        "polygons of fewer than 3 distinct points dropped": (1, "3"),
        "polygons clipped to the image": (1, "4"),
        "polygons covering no pixel dropped (empty masks)": (1, "5"),
        "repeated rows dropped": (1, "6"),
    }
    assert set(ds.report.dirty) == set(first)
    _, target = ds.load_raw(0)
    assert target["masks"].shape == (2, H, W)
    clipped = [(0, 70), (100, 70), (100, 110)]
    assert iou(target["masks"][1].numpy().astype(bool), reference_mask(clipped)) > 0.98
    np.testing.assert_allclose(target["boxes"][1].tolist(), [0, 70, 100, 110], atol=1e-3)
    # the same rows without masks: the same clean-up but for the empty mask (no masks, so
    # its box is kept: the rasterisation is paid only for masks)
    plain = YoloDataset(str(data))
    np.testing.assert_array_equal(plain.records[0].boxes[[0, 1]], ds.records[0].boxes)
    assert len(plain.records[0].boxes) == 3
    assert plain.report["polygon rows turned into boxes"] == 3


def test_six_values_are_a_malformed_row_not_a_polygon(tmp_path):
    data = one_image(tmp_path, ["0 0.5 0.5 0.2 0.2 0.9"])  # a box with a score
    with pytest.raises(DataError, match=r"a\.txt:1: .*polygon of 3 or more points.*got 6"):
        YoloDataset(str(data), with_masks=True)


def test_masks_follow_boxes_dropped_by_the_clean_up(tmp_path):
    """A box outside the image is dropped after parsing: the masks of the rows after it
    stay with their own boxes (record.ann_index)."""
    triangle = [(20, 10), (100, 30), (50, 90)]
    rows = [yolo_row(0, (W + 10, 10, W + 40, 40), W, H), polygon_row(1, triangle, W, H)]
    ds = YoloDataset(str(one_image(tmp_path, rows)), with_masks=True)
    _, target = ds.load_raw(0)
    assert target["labels"].tolist() == [1] and target["masks"].shape == (1, H, W)
    assert iou(target["masks"][0].numpy().astype(bool), reference_mask(triangle)) > 0.98


def test_transforms_move_the_masks_with_the_image(tmp_path):
    triangle = [(20, 10), (100, 30), (50, 90)]
    data = one_image(tmp_path, [polygon_row(0, triangle, W, H)])
    flip = [TRANSFORMS.build({"type": "torchvision.RandomHorizontalFlip", "p": 1.0})]
    ds = YoloDataset(str(data), with_masks=True, transforms=flip[0])
    _, target = ds[0]
    mirrored = [(W - x, y) for x, y in triangle]
    assert iou(target["masks"][0].numpy().astype(bool), reference_mask(mirrored)) > 0.98


def test_a_segmentation_export_loads_and_keeps_no_per_label_objects(tmp_path):
    data = segment_dataset(tmp_path / "export", n_train=4, n_val=2)  # task: segment, ../train
    ds = YoloDataset(str(data), split="train", with_masks=True)
    assert len(ds) == 4 and ds.classes == ["circle", "square"]
    assert len(ds.polygons.row_start) == 5 and ds.polygons.points.dtype == np.float32
    for i in range(len(ds)):
        _, target = ds.load_raw(i)
        masks = target["masks"]
        assert masks.shape[0] == len(target["boxes"]) >= 1
        assert (masks.flatten(1).sum(1) > 0).all()
    val = YoloDataset(str(data), split="val")
    assert len(val) == 2 and not val.with_masks


def test_the_mask_recipe_keeps_with_masks_through_data(tmp_path):
    data = segment_dataset(tmp_path / "export", n_train=2, n_val=1)
    cfg = load_config(MASK_RECIPE)
    apply_data_source(cfg, find_data_source(str(data)))
    train = cfg["train_dataloader"]["dataset"]
    assert train["type"] == "yolo.YoloDataset" and train["with_masks"] is True


@pytest.mark.slow
def test_detplug_train_mask_rcnn_on_a_yolo_segmentation_export(tmp_path):
    data = segment_dataset(tmp_path / "export", n_train=4, n_val=2)
    train, metrics = train_two_iterations(MASK_RECIPE, data, tmp_path / "work")
    assert len(train) == 2 and all(s["loss_mask"] > 0 for s in train), train
    assert "coco/segm_mAP" in metrics and "coco/mAP" in metrics, metrics  # val masks too


def test_a_point_off_by_rounding_is_not_reported_clipped(tmp_path):
    rows = ["0 0.1 0.1 1.0000004 0.1 0.5 1.0000004"]  # 6e-5 px past the border at 160 px
    ds = YoloDataset(str(one_image(tmp_path, rows)), with_masks=True)
    assert ds.report.counts == {} and ds.records[0].boxes[0].tolist()[2:] == [W, H]


def test_an_exif_rotated_photo_gets_masks_in_its_displayed_frame(tmp_path):
    """Labels are drawn on the displayed photo (as Ultralytics reads it): a 40x30 JPEG
    stored with EXIF orientation 6 (displayed 30x40) and a bright block in its stored
    top-left corner, displayed at x 20..30, y 0..16."""
    stored = np.full((30, 40, 3), 20, np.uint8)
    stored[0:10, 0:16] = 250
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "images" / "train" / "a.jpg"
    path.parent.mkdir(parents=True)
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    block = [(20, 0), (30, 0), (30, 16), (20, 16)]
    write_labels(tmp_path / "labels" / "train" / "a.txt", [polygon_row(0, block, 30, 40)])
    ds = YoloDataset(str(write_data_yaml(tmp_path, train="images/train")), with_masks=True)
    image, target = ds.load_raw(0)
    assert image.shape == (3, 40, 30) and target["masks"].shape == (1, 40, 30)
    inside = target["masks"][0].bool()
    assert inside.sum() == 160 and image[0][inside].float().mean() > 200
