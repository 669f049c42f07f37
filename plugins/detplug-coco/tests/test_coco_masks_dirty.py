"""CocoDataset(with_masks=True) on dirty segmentations: each problem is fixed or dropped
(box and mask together) and counted in the dataset's report with the annotation file and
the annotation's place and id, or is a DataError naming them; ``detplug data check``
prints the counts."""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np
import pytest
from coco_mask_fixtures import ann, image, write_coco
from detplug_coco import segment_cleanup as why
from detplug_coco.dataset import CocoDataset
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from detplug_core.errors import DataError

SQUARE = [2, 2, 12, 2, 12, 10, 2, 10]  # inside the default 24 x 32 image
GOOD = ann(99, 1, [SQUARE])


def build(tmp_path, anns, images=None, caplog=None):
    if caplog is not None:
        caplog.set_level(logging.INFO, "detplug.data")
    ann_file, img_dir = write_coco(tmp_path, images or [image(1)], [*anns, GOOD])
    return CocoDataset(ann_file, img_dir, with_masks=True), ann_file


def reference(ann_file, ann_id):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(ann_file)
    return coco.annToMask(coco.anns[ann_id])


def first_of(ds, reason):
    return ds.report.counts[reason].first


def test_a_polygon_of_fewer_than_3_points_is_left_out_of_its_mask(tmp_path, caplog):
    anns = [ann(1, 1, [[0, 0, 5, 5], SQUARE]), ann(2, 1, [[4, 4]])]
    ds, ann_file = build(tmp_path, anns, caplog=caplog)
    assert ds.report[why.SHORT_POLYGONS] == 2
    assert first_of(ds, why.SHORT_POLYGONS) == f"{ann_file} annotations[0] (id 1)"
    assert ds.report[why.EMPTY] == 1  # annotation 2 had no other polygon
    assert first_of(ds, why.EMPTY) == f"{ann_file} annotations[1] (id 2)"
    _, target = ds.load_raw(0)
    square = reference(ann_file, 99)
    assert np.array_equal(target["masks"].numpy(), np.stack([square, square]))
    assert len(target["boxes"]) == 2
    assert "2 polygons of fewer than 3 points left out (first: " in caplog.text


def test_a_polygon_outside_the_image_is_cut_at_the_border_and_counted(tmp_path):
    anns = [ann(1, 1, [[-5, -5, 40, 2, 20, 30]]), ann(2, 1, [[40, 0, 50, 0, 50, 9]])]
    ds, ann_file = build(tmp_path, anns)
    assert ds.report[why.OUTSIDE] == 1
    assert first_of(ds, why.OUTSIDE) == f"{ann_file} annotations[0] (id 1)"
    assert ds.report[why.EMPTY] == 1  # wholly outside: nothing in the image
    assert first_of(ds, why.EMPTY) == f"{ann_file} annotations[1] (id 2)"
    _, target = ds.load_raw(0)
    masks = target["masks"].numpy()
    assert masks.shape == (2, 24, 32) and masks[0].sum() > 100
    assert np.array_equal(masks[0], reference(ann_file, 1))


def test_a_polygon_of_zero_area_is_an_empty_mask(tmp_path):
    line = [1.1, 2.2, 3.3, 6.6, 5.5, 11.0]  # collinear points
    ds, ann_file = build(tmp_path, [ann(1, 1, [line, [4, 4, 4, 4, 4, 4]])])
    assert ds.report[why.EMPTY] == 1 and ds.records.num_boxes().tolist() == [1]


def test_annotations_without_segmentation_are_dropped_and_a_boxes_only_file_refused(tmp_path):
    ds, ann_file = build(tmp_path, [ann(1, 1, None), ann(2, 1, [])])
    assert ds.report[why.NO_SEGMENTATION] == 2
    assert first_of(ds, why.NO_SEGMENTATION) == f"{ann_file} annotations[0] (id 1)"
    assert ds.records.num_boxes().tolist() == [1]
    ann_file, img_dir = write_coco(tmp_path, [image(1)], [ann(1, 1, None)], name="boxes.json")
    with pytest.raises(DataError, match=r"boxes\.json: no annotation has a 'segmentation'"):
        CocoDataset(ann_file, img_dir, with_masks=True)
    assert len(CocoDataset(ann_file, img_dir)) == 1  # without masks: a detection file


def rle(mask):
    return {
        "size": list(mask.shape),
        "counts": mask_utils.encode(np.asfortranarray(mask))["counts"].decode(),
    }


def test_rle_of_another_size_or_malformed_runs_are_dropped(tmp_path):
    blob = np.zeros((24, 32), np.uint8)
    blob[3:9, 4:20] = 1
    small = rle(blob[:20])
    short = {"size": [24, 32], "counts": rle(blob)["counts"][:-2]}  # runs end early
    uncompressed = {"size": [24, 32], "counts": [5, 10, 20]}  # 35 of 768 pixels
    negative = {"size": [24, 32], "counts": [800, -32]}
    bad_char = {"size": [24, 32], "counts": "0\u00e9"}
    anns = [ann(1, 1, small, crowd=1), ann(2, 1, short), ann(3, 1, uncompressed, crowd=1)]
    anns += [ann(4, 1, negative), ann(5, 1, bad_char), ann(6, 1, rle(blob), crowd=1)]
    ds, ann_file = build(tmp_path, anns)
    assert ds.report[why.WRONG_SIZE] == 1
    assert first_of(ds, why.WRONG_SIZE) == f"{ann_file} annotations[0] (id 1)"
    assert ds.report[why.MALFORMED_RLE] == 4
    assert first_of(ds, why.MALFORMED_RLE) == f"{ann_file} annotations[1] (id 2)"
    _, target = ds.load_raw(0)
    assert target["ignore"].tolist() == [True, False]
    assert np.array_equal(target["masks"][0].numpy(), blob)


def test_an_rle_without_a_pixel_is_an_empty_mask(tmp_path):
    nothing = np.zeros((24, 32), np.uint8)
    ds, ann_file = build(
        tmp_path, [ann(1, 1, rle(nothing)), ann(2, 1, {"size": [24, 32], "counts": [768]})]
    )
    assert ds.report[why.EMPTY] == 2 and ds.records.num_boxes().tolist() == [1]


@pytest.mark.parametrize(
    ("segmentation", "message"),
    [
        ("polygon", r"'segmentation' must be a list of polygons or an RLE object"),
        ([[1, 2, "3", 4, 5, 6]], r"polygons are lists of numbers .*; got \[1, 2, '3'"),
        ([[1, 2, True, 4, 5, 6]], r"polygons are lists of numbers"),
        ([[1, 2, 3, 4, 5, 6, 7]], r"has a polygon of 7 numbers \(odd\)"),
        ([1, 2, 3, 4, 5, 6], r"polygons are lists of numbers .*; got 1"),
        ({"counts": "abc"}, r"an RLE 'segmentation' needs 'size': \[height, width\]"),
        ({"size": [24, 32], "counts": {"a": 1}}, r"needs 'counts' as a string .* got dict"),
        (
            {"size": [24, 32], "counts": [1.5, 767]},
            r"needs 'counts' as a string .* got a list holding float",
        ),
    ],
)
def test_a_malformed_segmentation_is_an_error_naming_the_annotation(
    tmp_path, segmentation, message
):
    ann_file, img_dir = write_coco(tmp_path, [image(1)], [GOOD, ann(7, 1, segmentation)])
    with pytest.raises(DataError, match=rf"ann\.json: annotations\[1\] \(id 7\): .*{message}"):
        CocoDataset(ann_file, img_dir, with_masks=True)


def test_masks_follow_their_boxes_when_the_box_clean_up_drops_some(tmp_path):
    anns = [ann(1, 1, [SQUARE], bbox=[40, 40, 3, 3]), ann(2, 1, [[0, 0, 9, 0, 0, 9]])]
    ds, ann_file = build(tmp_path, anns)
    _, target = ds.load_raw(0)
    want = np.stack([reference(ann_file, 2), reference(ann_file, 99)])
    assert np.array_equal(target["masks"].numpy(), want)


def test_data_check_prints_the_mask_clean_up(tmp_path):
    anns = [ann(1, 1, [[0, 0, 5, 5], SQUARE]), ann(2, 1, None), ann(3, 1, [[-4, 0, 9, 0, 0, 9]])]
    ann_file, img_dir = write_coco(tmp_path, [image(1)], [*anns, GOOD])
    config = tmp_path / "data.yaml"
    config.write_text(
        "train_dataloader:\n  dataset:\n    type: coco.CocoDataset\n"
        f"    ann_file: {ann_file}\n    img_dir: {img_dir}\n    with_masks: true\n"
    )
    from click.testing import CliRunner

    data_group = pytest.importorskip("detplug_hooks.data_cli").data_group

    res = CliRunner().invoke(data_group, ["check", str(config), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert f"1 {why.SHORT_POLYGONS}" in res.output and "(id 1)" in res.output
    assert f"1 {why.NO_SEGMENTATION}" in res.output and "(id 2)" in res.output
    assert f"1 {why.OUTSIDE}" in res.output and "(id 3)" in res.output
