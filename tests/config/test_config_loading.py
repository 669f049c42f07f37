"""Loading YAML and JSON files, ``_base_`` inheritance and merge rules, key locations."""

from __future__ import annotations

import json

from detplug_core.config import Config, load_config


def test_yaml_file_loads_into_a_plain_dict_config(write):
    path = write(
        "a.yaml",
        """
        model:
          type: FCOS
          num_classes: 80
        hooks:
          - type: A
        """,
    )
    cfg = load_config(path)
    assert isinstance(cfg, Config) and isinstance(cfg, dict)
    assert cfg == {"model": {"type": "FCOS", "num_classes": 80}, "hooks": [{"type": "A"}]}
    assert type(cfg["model"]) is dict and type(cfg["hooks"]) is list
    assert cfg.filename == str(path)


def test_yml_extension_and_str_path(write):
    path = write("a.yml", "x: 1\n")
    assert load_config(str(path)) == {"x": 1}


def test_json_file_loads_and_reports_lines(write):
    path = write(
        "a.json",
        """
        {
          "model": {"type": "FCOS",
                    "num_classes": 3},
          "sizes": [1,
                    2]
        }
        """,
    )
    cfg = load_config(path)
    assert cfg == {"model": {"type": "FCOS", "num_classes": 3}, "sizes": [1, 2]}
    assert cfg.source_of("model") == f"{path}:2"
    assert cfg.source_of("model.num_classes") == f"{path}:3"
    assert cfg.source_of("sizes.1") == f"{path}:5"


def test_json_keeps_strings_that_yaml_would_convert(write):
    path = write("a.json", json.dumps({"flag": "yes", "lr": 1e-4, "none": None}))
    assert load_config(path) == {"flag": "yes", "lr": 1e-4, "none": None}


def test_empty_file_is_an_empty_config(write):
    assert load_config(write("a.yaml", "# nothing yet\n")) == {}


def test_exponent_floats_without_a_dot_are_numbers(write):
    cfg = load_config(write("a.yaml", "lr: 1e-4\nbig: 2E6\nnot_a_number: 1e\n"))
    assert cfg == {"lr": 1e-4, "big": 2e6, "not_a_number": "1e"}
    assert isinstance(cfg["lr"], float)


def test_yaml_aliases_become_independent_copies(write):
    path = write(
        "a.yaml",
        """
        train: &pipeline {size: 1}
        val: *pipeline
        merged:
          <<: *pipeline
          extra: 2
        """,
    )
    cfg = load_config(path, ["train.size=5"])
    assert cfg == {"train": {"size": 5}, "val": {"size": 1}, "merged": {"size": 1, "extra": 2}}
    assert cfg.source_of("merged.extra") == f"{path}:5"


def test_single_base_by_string_relative_to_including_file(write):
    write("_base_/model.yaml", "model: {type: FCOS, num_classes: 80}\n")
    path = write(
        "configs/fcos.yaml",
        """
        _base_: ../_base_/model.yaml
        model:
          num_classes: 20
        """,
    )
    cfg = load_config(path)
    assert cfg == {"model": {"type": "FCOS", "num_classes": 20}}
    assert "_base_" not in cfg


def test_bases_merge_in_order_then_the_file_on_top(write):
    write("one.yaml", "a: 1\nb: 1\nc: 1\nd: [1, 1]\n")
    write("two.yaml", "b: 2\nc: 2\nd: [2]\n")
    path = write("top.yaml", "_base_: [one.yaml, two.yaml]\nc: 3\n")
    assert load_config(path) == {"a": 1, "b": 2, "c": 3, "d": [2]}


def test_bases_nest_and_each_is_relative_to_its_own_file(write):
    write("base/runtime.yaml", "seed: 0\nlog: {interval: 50}\n")
    write("base/schedule.yaml", "_base_: runtime.yaml\nepochs: 12\n")
    path = write("exp/x.yaml", "_base_: [../base/schedule.yaml]\nlog: {interval: 10}\n")
    assert load_config(path) == {"seed": 0, "log": {"interval": 10}, "epochs": 12}


def test_the_same_base_twice_is_not_a_cycle(write):
    write("common.yaml", "x: 1\n")
    write("a.yaml", "_base_: common.yaml\na: 1\n")
    write("b.yaml", "_base_: common.yaml\nb: 1\n")
    path = write("top.yaml", "_base_: [a.yaml, b.yaml]\n")
    assert load_config(path) == {"x": 1, "a": 1, "b": 1}


def test_json_and_yaml_bases_mix(write):
    write("base.json", '{"model": {"depth": 50, "frozen": [1]}}')
    path = write("top.yaml", "_base_: base.json\nmodel: {frozen: [2, 3]}\n")
    assert load_config(path) == {"model": {"depth": 50, "frozen": [2, 3]}}


def test_dicts_merge_recursively_lists_and_scalars_replace(write):
    write(
        "base.yaml",
        """
        model:
          backbone: {type: ResNet, depth: 50, out: [1, 2, 3]}
          head: {type: H, loss: {type: Focal, alpha: 0.25}}
        """,
    )
    path = write(
        "top.yaml",
        """
        _base_: base.yaml
        model:
          backbone: {depth: 18, out: [3]}
          head: {loss: {alpha: 0.5}}
        """,
    )
    assert load_config(path) == {
        "model": {
            "backbone": {"type": "ResNet", "depth": 18, "out": [3]},
            "head": {"type": "H", "loss": {"type": "Focal", "alpha": 0.5}},
        }
    }


def test_delete_replaces_the_base_dict_outright(write):
    write("base.yaml", "optimizer: {type: SGD, lr: 0.01, momentum: 0.9}\nother: 1\n")
    path = write(
        "top.yaml",
        """
        _base_: base.yaml
        optimizer:
          _delete_: true
          type: AdamW
          lr: 0.001
        """,
    )
    cfg = load_config(path)
    assert cfg == {"optimizer": {"type": "AdamW", "lr": 0.001}, "other": 1}
    assert cfg.source_of("optimizer.momentum") is None


def test_delete_false_merges_normally_and_is_removed(write):
    write("base.yaml", "opt: {a: 1}\n")
    path = write("top.yaml", "_base_: base.yaml\nopt: {_delete_: false, b: 2}\n")
    assert load_config(path) == {"opt": {"a": 1, "b": 2}}


def test_delete_keys_never_reach_the_result(write):
    path = write(
        "a.yaml", "a: {_delete_: true, b: {_delete_: true, c: 1}}\nl: [{_delete_: true}]\n"
    )
    assert load_config(path) == {"a": {"b": {"c": 1}}, "l": [{}]}


def test_a_dict_may_replace_a_scalar_and_back(write):
    write("base.yaml", "a: 1\nb: {x: 1}\n")
    path = write("top.yaml", "_base_: base.yaml\na: {x: 2}\nb: null\n")
    assert load_config(path) == {"a": {"x": 2}, "b": None}


def test_source_of_reports_the_file_that_set_each_key(write):
    base = write(
        "base.yaml",
        """
        model:
          type: FCOS
          head:
            num_classes: 80
        hooks:
          - type: A
          - type: B
        """,
    )
    top = write(
        "top.yaml",
        """
        _base_: base.yaml
        model:
          head:
            num_classes: 20
        """,
    )
    cfg = load_config(top, ["hooks.1.type=C", "+model.extra.depth=3"])
    assert cfg.source_of("model.type") == f"{base}:2"
    assert cfg.source_of("model") == f"{top}:2"
    assert cfg.source_of("model.head.num_classes") == f"{top}:4"
    assert cfg.source_of("hooks.0.type") == f"{base}:6"
    assert cfg.source_of("hooks.1.type") == "command line override"
    assert cfg.source_of("model.extra") == "command line override"
    assert cfg.source_of("model.extra.depth") == "command line override"
    assert cfg.source_of("model.missing") is None


def test_source_of_a_replaced_list_forgets_the_base_items(write):
    write("base.yaml", "hooks:\n  - {type: A, interval: 1}\n  - {type: B}\n")
    top = write("top.yaml", "_base_: base.yaml\nhooks:\n  - {type: C}\n")
    cfg = load_config(top)
    assert cfg["hooks"] == [{"type": "C"}]
    assert cfg.source_of("hooks.0.type") == f"{top}:3"
    assert cfg.source_of("hooks.1") is None


def test_yaml_timestamps_and_other_safe_types_are_allowed(write):
    cfg = load_config(write("a.yaml", "when: 2024-01-02\nb: !!str 12\n"))
    assert str(cfg["when"]) == "2024-01-02" and cfg["b"] == "12"


def test_append_adds_items_to_the_inherited_list(write):
    base = write("base.yaml", "hooks:\n  - {type: A}\n  - {type: B}\nx: 1\n")
    write("middle.yaml", "_base_: base.yaml\nhooks:\n  _append_: [{type: C}]\n")
    top = write(
        "top.yaml",
        """
        _base_: middle.yaml
        hooks:
          _append_:
            - type: D
              interval: 5
        new_list:
          _append_: [1, 2]
        """,
    )
    cfg = load_config(top)
    assert cfg["hooks"] == [
        {"type": "A"},
        {"type": "B"},
        {"type": "C"},
        {"type": "D", "interval": 5},
    ]
    assert cfg["new_list"] == [1, 2]  # nothing to append to: the items alone
    assert cfg.source_of("hooks.0.type") == f"{base}:2"
    assert cfg.source_of("hooks.3.interval") == f"{top}:5"
    assert "_append_" not in cfg.dump()


def test_append_to_something_that_is_no_list_is_an_error(write):
    import pytest

    from detplug_core.errors import ConfigError

    write("base.yaml", "hooks: {type: A}\n")
    top = write("top.yaml", "_base_: base.yaml\nhooks:\n  _append_: [{type: C}]\n")
    with pytest.raises(ConfigError, match=r"top.yaml:3: 'hooks._append_': the base value of "):
        load_config(top)
    top = write("top2.yaml", "hooks:\n  _append_: {type: C}\n")
    with pytest.raises(ConfigError, match=r"'hooks._append_' must be a list of items"):
        load_config(top)
