"""Dumping configs to YAML that loads back equal."""

from __future__ import annotations

import datetime

import pytest

from detplug_core.config import Config, dump_config, load_config
from detplug_core.errors import ConfigError


def test_dump_of_a_loaded_config_loads_back_equal(write, tmp_path):
    write("base.yaml", "model: {type: FCOS, sizes: [1, 2]}\nlr: 1e-3\n")
    path = write(
        "a.yaml",
        """
        _base_: base.yaml
        model: {name: '${model.type}', hooks: [{type: A, flag: 'yes'}]}
        text: "1e-3"
        literal: $${not_a_ref}
        empty: {}
        none: null
        """,
    )
    cfg = load_config(path)
    text = cfg.dump()
    assert "_base_" not in text and "_delete_" not in text
    out = tmp_path / "work" / "config.yaml"
    assert cfg.dump(out) == text and out.read_text() == text
    again = load_config(out)
    assert again == cfg and again.filename == str(out)
    assert again["literal"] == "${not_a_ref}" and again["text"] == "1e-3"


def test_dump_is_block_style_with_short_scalar_lists():
    cfg = Config.from_dict({"model": {"sizes": [1333, 800], "hooks": [{"type": "A"}]}})
    assert cfg.dump() == "model:\n  sizes: [1333, 800]\n  hooks:\n  - type: A\n"


def test_dump_keeps_key_order_and_spells_out_shared_values():
    shared = {"x": 1}
    text = Config.from_dict({"b": shared, "a": shared}).dump()
    assert text == "b:\n  x: 1\na:\n  x: 1\n"


def test_dump_config_writes_atomically_and_creates_folders(tmp_path):
    out = tmp_path / "a" / "b" / "cfg.yaml"
    text = dump_config({"a": (1, 2), "when": datetime.date(2024, 1, 2)}, out)
    assert out.read_text() == text
    assert load_config(out) == {"a": [1, 2], "when": datetime.date(2024, 1, 2)}
    assert [p.name for p in out.parent.iterdir()] == ["cfg.yaml"]


def test_dump_refuses_objects_that_are_not_plain_data(tmp_path):
    with pytest.raises(
        ConfigError, match="cannot dump 'model.dtype': a value of type 'object' is not config"
    ):
        dump_config({"model": {"dtype": object()}}, tmp_path / "x.yaml")
    assert not (tmp_path / "x.yaml").exists()


def test_dump_refuses_a_json_path(tmp_path):
    with pytest.raises(ConfigError, match="written as YAML"):
        dump_config({"a": 1}, tmp_path / "x.json")
