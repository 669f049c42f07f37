"""``${a.b.c}`` references."""

from __future__ import annotations

import pytest

from detplug_core.config import Config, load_config, resolve_references
from detplug_core.errors import ConfigError


def test_whole_value_reference_keeps_the_type(write):
    cfg = load_config(
        write(
            "a.yaml",
            """
            num_classes: 3
            sizes: [1, 2]
            model:
              head: {num_classes: "${num_classes}", sizes: "${sizes}", none: "${nothing}"}
            nothing: null
            """,
        )
    )
    assert cfg["model"]["head"] == {"num_classes": 3, "sizes": [1, 2], "none": None}


def test_reference_inside_a_string_is_text(write):
    cfg = load_config(
        write(
            "a.yaml",
            """
            name: fcos
            lr: 0.01
            flag: true
            nothing: null
            work_dir: work_dirs/${name}_lr${lr}_${flag}_${nothing}
            """,
        )
    )
    assert cfg["work_dir"] == "work_dirs/fcos_lr0.01_true_null"


def test_references_chain_and_reach_through_lists(write):
    cfg = load_config(
        write(
            "a.yaml",
            """
            a: ${b}
            b: ${c.0.x}
            c: [{x: 7}]
            d: ${alias.deep}
            alias: ${source}
            source: {deep: ok}
            """,
        )
    )
    assert cfg["a"] == 7 and cfg["b"] == 7 and cfg["d"] == "ok"
    assert cfg["alias"] == {"deep": "ok"}


def test_references_see_bases_and_overrides(write):
    write("base.yaml", "data_root: /data\ntrain: {root: '${data_root}/train'}\n")
    path = write("top.yaml", "_base_: base.yaml\n")
    cfg = load_config(path, ["data_root=/mnt/x"])
    assert cfg["train"]["root"] == "/mnt/x/train"
    assert load_config(path, ["train.root=${data_root}/val"])["train"]["root"] == "/data/val"


def test_a_copied_mapping_is_independent(write):
    cfg = load_config(write("a.yaml", "a: {x: 1}\nb: ${a}\n"))
    cfg["b"]["x"] = 2
    assert cfg["a"] == {"x": 1}


def test_escaped_dollar_brace_is_literal(write):
    cfg = load_config(write("a.yaml", "x: 1\nplain: $${x}\nmixed: ${x} costs $$${x}\n"))
    assert cfg["plain"] == "${x}"
    assert cfg["mixed"] == "1 costs $${x}"


def test_reference_to_an_escaped_value_is_not_resolved_twice(write):
    cfg = load_config(write("a.yaml", "a: $${b}\nb: 1\nc: ${a}\n"))
    assert cfg["a"] == "${b}" and cfg["c"] == "${b}"


@pytest.mark.parametrize(
    ("text", "cycle"),
    [
        ("a: ${a}\n", "a -> a"),
        ("a: ${b}\nb: ${c}\nc: ${a}\n", "a -> b -> c -> a"),
        ("a: {x: '${a}'}\n", "a -> a.x -> a"),
        ("a: '${b.x}'\nb: '${a}'\n", "a -> b -> a"),
    ],
)
def test_cycles_are_errors(write, text, cycle):
    path = write("a.yaml", text)
    with pytest.raises(ConfigError, match="cyclic reference") as info:
        load_config(path)
    assert str(info.value).endswith(f"cyclic reference: {cycle}")
    assert str(info.value).startswith(f"{path}:")


def test_mapping_inside_a_longer_string_is_an_error(write):
    path = write("a.yaml", "a: {x: 1}\nb: prefix ${a}\n")
    with pytest.raises(ConfigError, match=r"a.yaml:2: reference \$\{a\} at 'b' names a mapping"):
        load_config(path)


@pytest.mark.parametrize("text", ["${}", "${a..b}", "${a.${b}}", "x ${a"])
def test_malformed_references(write, text):
    path = write("a.yaml", f"a: 1\nb: '{text}'\n")
    with pytest.raises(ConfigError, match=r"a\.yaml:2: (malformed|unterminated) reference"):
        load_config(path)


def test_reference_from_an_override_reports_the_override(write):
    path = write("a.yaml", "a: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, ["+b=${nope}"])
    assert str(info.value).startswith("command line override: unknown key 'nope'")


def test_resolve_references_on_a_plain_dict():
    cfg = {"a": {"b": 2}, "c": "${a.b}", "d": ["${c}"]}
    resolve_references(cfg)
    assert cfg == {"a": {"b": 2}, "c": 2, "d": [2]}


def test_from_dict_does_not_resolve():
    cfg = Config.from_dict({"a": 1, "b": "${a}"})
    assert cfg["b"] == "${a}"
