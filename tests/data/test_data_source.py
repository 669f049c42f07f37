"""``--data``: the detplug_data_source hook, and wiring a source's splits into a config."""

from __future__ import annotations

import logging

import pytest

from detplug_core import hookimpl
from detplug_core.data.source import DataSource, apply_data_source, find_data_source
from detplug_core.errors import DataError

SPLITS = {
    "train": {"type": "FakeDataset", "file": "t.lst"},
    "val": {"type": "FakeDataset", "file": "v.lst"},
}


class FakeFormat:
    """A third-party format plugin: claims paths ending in .fake."""

    @hookimpl
    def detplug_data_source(self, path, image_dir):
        if not path.endswith(".fake"):
            return None
        return {"format": "fake", "classes": ["a", "b"], "splits": dict(SPLITS)}


def recipe():
    transforms = [{"type": "ToFloatImage"}]
    return {
        "train_dataloader": {
            "batch_size": 2,
            "dataset": {
                "type": "RepeatDataset",
                "times": 3,
                "dataset": {
                    "type": "VOCDataset",
                    "split": "x",
                    "filter_empty": True,
                    "transforms": transforms,
                },
            },
        },  # fmt: skip
        "val_dataloader": {
            "batch_size": 1,
            "dataset": {"type": "VOCDataset", "transforms": transforms},
        },
        "test_dataloader": None,
    }


def test_a_third_party_plugin_recognises_its_paths(tmp_path, detplug_plugin):
    detplug_plugin.register(FakeFormat(), "fake-format")
    (tmp_path / "my.fake").write_text("")
    source = find_data_source(str(tmp_path / "my.fake"))
    assert source.format == "fake" and source.classes == ["a", "b"]
    assert source.splits["train"] == SPLITS["train"]


def test_unrecognised_and_missing_paths_are_one_line_errors(tmp_path, detplug_plugin):
    detplug_plugin.register(FakeFormat(), "fake-format")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(
        DataError, match=r"not a data set any installed plugin recognises .*fake-format"
    ):
        find_data_source(str(tmp_path / "notes.txt"))
    with pytest.raises(DataError, match="--data: '.*nope' does not exist"):
        find_data_source(str(tmp_path / "nope"))


def test_two_plugins_claiming_one_path_is_an_error(tmp_path, detplug_plugin):
    detplug_plugin.register(FakeFormat(), "fake-one")
    detplug_plugin.register(FakeFormat(), "fake-two")
    (tmp_path / "my.fake").write_text("")
    with pytest.raises(DataError, match="claimed by several formats: fake, fake"):
        find_data_source(str(tmp_path / "my.fake"))


def test_splits_replace_datasets_through_wrappers_keeping_transforms():
    cfg = recipe()
    apply_data_source(cfg, DataSource("/d/x.fake", "fake", ["a", "b"], dict(SPLITS)))
    train = cfg["train_dataloader"]["dataset"]
    assert train["type"] == "RepeatDataset" and train["times"] == 3
    assert train["dataset"] == {**SPLITS["train"], "filter_empty": True,
                                "transforms": [{"type": "ToFloatImage"}]}  # fmt: skip
    assert cfg["val_dataloader"]["dataset"] == {
        **SPLITS["val"],
        "transforms": [{"type": "ToFloatImage"}],
    }
    assert cfg["val_dataloader"]["batch_size"] == 1
    assert cfg["test_dataloader"] is None  # no test split: test falls back to val
    assert cfg["data"] == {"path": "/d/x.fake", "format": "fake", "classes": ["a", "b"]}


def test_a_test_split_gets_a_test_dataloader_like_val():
    cfg = recipe()
    splits = {**SPLITS, "test": {"type": "FakeDataset", "file": "test.lst"}}
    apply_data_source(cfg, DataSource("/d/x.fake", "fake", ["a", "b"], splits))
    assert cfg["test_dataloader"]["batch_size"] == 1
    assert cfg["test_dataloader"]["dataset"]["file"] == "test.lst"


def test_no_val_split_validates_on_train_with_a_warning(caplog):
    cfg = recipe()
    with caplog.at_level(logging.WARNING, "detplug.data"):
        apply_data_source(cfg, DataSource("/d/x.fake", "fake", ["a"], {"train": SPLITS["train"]}))
    assert cfg["val_dataloader"]["dataset"]["file"] == "t.lst"
    assert "no val split; validating on the train split" in caplog.text
