"""``--data`` keeps the user's dataset options (issue 26, wall 3): an override such as
``train_dataloader.dataset.on_bad_image=skip`` (what the truncated-JPEG error advises) is
applied to the new dataset, or refused by name; never dropped silently."""

from __future__ import annotations

from pathlib import Path

import pytest
from yolo_fixtures import simple_dataset

from detplug_core.config import load_config
from detplug_core.data.source import apply_data_source, find_data_source
from detplug_core.errors import DataError
from detplug_core.registry import DATASETS

RECIPE = "fcos::fcos_r18_fpn_shapes.yaml"  # packaged: the wheel ships it


def with_data(data, *overrides):
    cfg = load_config(RECIPE, list(overrides))
    apply_data_source(cfg, find_data_source(str(data)), overrides)
    return cfg


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def test_an_override_on_the_dataset_reaches_the_new_dataset(tmp_path):
    data = simple_dataset(tmp_path / "pets", n_train=4, n_val=2)
    truncate(tmp_path / "pets" / "images" / "train" / "train1.jpg")
    cfg = with_data(data, "+train_dataloader.dataset.on_bad_image=skip")
    train = cfg["train_dataloader"]["dataset"]
    assert train["type"] == "yolo.YoloDataset" and train["on_bad_image"] == "skip"
    assert train["transforms"][-1]["type"] == "torchvision.ToFloatImage"  # the recipe's
    assert "image_size" not in train and "object_size" not in train  # ShapesDataset's own
    built = DATASETS.build(train)  # the advised fix works: the bad file is left out
    assert len(built) == 3
    assert "on_bad_image" not in cfg["val_dataloader"]["dataset"]


def test_an_option_the_new_dataset_lacks_is_refused_by_name(tmp_path):
    data = simple_dataset(tmp_path / "pets", n_train=2, n_val=1)
    with pytest.raises(DataError, match=r"train_dataloader\.dataset\.on_unknown_class: "
                       r"yolo\.YoloDataset \(the --data data set\) has no option"):  # fmt: skip
        with_data(data, "+train_dataloader.dataset.on_unknown_class=skip")


def test_an_override_of_what_the_data_sets_is_refused(tmp_path):
    data = simple_dataset(tmp_path / "pets", n_train=2, n_val=1)
    with pytest.raises(DataError, match=r"train_dataloader\.dataset\.split: --data sets it"):
        with_data(data, "train_dataloader.dataset.split=val")


def test_options_set_in_a_config_file_are_kept(tmp_path):
    data = simple_dataset(tmp_path / "pets", n_train=2, n_val=1)
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        f"_base_: {RECIPE}\ntrain_dataloader:\n  dataset:\n    scan_images: false\n"
        "    exif_orientation: false\n"
    )
    cfg = load_config(str(mine))
    apply_data_source(cfg, find_data_source(str(data)))
    train = cfg["train_dataloader"]["dataset"]
    assert train["scan_images"] is False and train["exif_orientation"] is False
