"""``num_classes: auto`` and the class-count check against the data."""

from __future__ import annotations

import pytest

from detplug_core.data.num_classes import check_num_classes, resolve_classes, resolve_num_classes
from detplug_core.errors import ConfigError


def config(num_classes, **extra):
    return {
        "model": {"type": "M", "head": {"num_classes": num_classes},
                  "aux": [{"num_classes": num_classes}]},
        "train_dataloader": {"dataset": {"type": "RepeatDataset", "times": 2,
                                         "dataset": {"type": "D", "classes": ["a", "b", "c"]}}},
        **extra,
    }  # fmt: skip


def test_auto_takes_the_count_from_the_dataset_classes():
    cfg = config("auto")
    assert resolve_num_classes(cfg) == ["a", "b", "c"]
    assert cfg["model"]["head"]["num_classes"] == 3
    assert cfg["model"]["aux"][0]["num_classes"] == 3


def test_data_classes_from_data_option_come_first():
    cfg = config("auto", data={"path": "/x/data.yaml", "classes": ["cat", "dog"]})
    assert resolve_num_classes(cfg) == ["cat", "dog"]
    assert cfg["model"]["head"]["num_classes"] == 2


def test_a_fixed_count_that_disagrees_with_data_names_both_numbers():
    cfg = config(80, data={"path": "/x/data.yaml", "classes": ["cat", "dog"]})
    with pytest.raises(ConfigError) as err:
        resolve_num_classes(cfg)
    assert err.value.exit_code == 2
    message = str(err.value)
    assert "model.head.num_classes is 80 but the data" in message
    assert "has 2 classes (cat, dog)" in message and "num_classes: auto" in message


def test_fixed_counts_without_data_option_are_left_to_the_runner():
    cfg = config(3)
    assert resolve_num_classes(cfg) is None
    check_num_classes(cfg["model"], ["a", "b", "c"], "train_dataloader.dataset")
    with pytest.raises(ConfigError, match=r"model\.head\.num_classes is 3 but .* has 4 classes"):
        check_num_classes(cfg["model"], list("abcd"), "train_dataloader.dataset")


def test_auto_without_any_dataloader_is_an_error():
    with pytest.raises(ConfigError, match="needs a dataloader"):
        resolve_num_classes({"model": {"head": {"num_classes": "auto"}}})


def test_auto_builds_the_dataset_when_the_config_lists_no_classes(detplug_plugin):
    from torch.utils.data import Dataset

    from detplug_core.registry import DATASETS

    @DATASETS.register()
    class FourClasses(Dataset):
        def __init__(self, transforms=None):
            self.classes = ["w", "x", "y", "z"]

    cfg = {"model": {"head": {"num_classes": "auto"}},
           "train_dataloader": {"dataset": {"type": "FourClasses", "transforms": None}}}  # fmt: skip
    found = resolve_classes(cfg)  # built as the dataloader would build it, to be reused
    assert found.names == ["w", "x", "y", "z"] and found.key == "train_dataloader"
    assert isinstance(found.dataset, FourClasses)
    assert cfg["model"]["head"]["num_classes"] == 4


def test_known_classes_resolve_auto_without_building_anything():
    cfg = config("auto")
    cfg["train_dataloader"]["dataset"] = {"type": "NotRegisteredAnywhere"}
    assert resolve_num_classes(cfg, ["a", "b"], "the checkpoint") == ["a", "b"]
    assert cfg["model"]["head"]["num_classes"] == 2
