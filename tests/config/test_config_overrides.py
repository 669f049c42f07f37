"""Command-line overrides ``a.b=value``, ``hooks.0.x=1`` and ``+new.key=value``."""

from __future__ import annotations

import pytest

from detplug_core.config import Config, apply_overrides, load_config
from detplug_core.config.overrides import format_override_value, parse_override_value
from detplug_core.errors import ConfigError


def _cfg() -> dict:
    return {
        "optimizer": {"type": "SGD", "lr": 0.01},
        "hooks": [{"type": "A", "interval": 1}, {"type": "B"}],
        "flag": False,
        "name": "x",
        "init": None,
    }


@pytest.mark.parametrize(
    ("override", "path", "value"),
    [
        ("optimizer.lr=0.02", ("optimizer", "lr"), 0.02),
        ("optimizer.lr=1e-3", ("optimizer", "lr"), 1e-3),
        ("optimizer.lr=2", ("optimizer", "lr"), 2),
        ("flag=true", ("flag",), True),
        ("name=null", ("name",), None),
        ("name=~", ("name",), None),
        ("name='true'", ("name",), "true"),
        ("name=", ("name",), ""),
        ("name=a=b", ("name",), "a=b"),
        ("name=[1,2]", ("name",), [1, 2]),
        ("name={a: 1, b: [x]}", ("name",), {"a": 1, "b": ["x"]}),
        ("optimizer={type: Adam}", ("optimizer",), {"type": "Adam"}),
    ],
)
def test_values_parse_as_yaml(override, path, value):
    cfg = _cfg()
    apply_overrides(cfg, [override])
    node = cfg
    for key in path:
        node = node[key]
    assert node == value and type(node) is type(value)


def test_list_items_by_index():
    cfg = _cfg()
    apply_overrides(cfg, ["hooks.0.interval=5", "hooks.-1.type=C", "hooks.1={type: D}"])
    assert cfg["hooks"] == [{"type": "A", "interval": 5}, {"type": "D"}]


def test_overrides_apply_in_order():
    cfg = _cfg()
    apply_overrides(cfg, ["optimizer.lr=1", "optimizer.lr=2"])
    assert cfg["optimizer"]["lr"] == 2


def test_plus_adds_keys_creating_mappings():
    cfg = _cfg()
    apply_overrides(cfg, ["+optimizer.momentum=0.9", "+new.deep.key=[1]", "optimizer.lr=5"])
    assert cfg["optimizer"] == {"type": "SGD", "lr": 5, "momentum": 0.9}
    assert cfg["new"] == {"deep": {"key": [1]}}


def test_plus_on_an_existing_key_or_index_is_an_error():
    with pytest.raises(
        ConfigError,
        match=r"'\+optimizer.lr' .* adds a key, but 'optimizer.lr' "
        r"exists \(a float \(0.01\)\); write optimizer.lr=\.\.\. to replace it",
    ):
        apply_overrides(_cfg(), ["+optimizer.lr=5"])
    with pytest.raises(ConfigError, match=r"'hooks.0' exists .* or hooks\+=\.\.\. to append"):
        apply_overrides(_cfg(), ["+hooks.0={type: E}"])


def test_list_append_form():
    cfg = _cfg()
    apply_overrides(cfg, ["hooks+={type: E}", "hooks+={type: F}"])
    assert [h["type"] for h in cfg["hooks"][-2:]] == ["E", "F"]
    with pytest.raises(ConfigError, match="appends to a list, but 'optimizer' is a dict"):
        apply_overrides(cfg, ["optimizer+=1"])
    with pytest.raises(ConfigError, match="unknown key 'hookz'"):
        apply_overrides(cfg, ["hookz+={type: E}"])


def test_plus_appends_at_the_end_of_a_list():
    cfg = _cfg()
    apply_overrides(cfg, ["+hooks.2={type: E}"])
    assert cfg["hooks"][-1] == {"type": "E"}


def test_unknown_key_suggests_the_close_match():
    with pytest.raises(ConfigError) as info:
        apply_overrides(_cfg(), ["optimizer.lrr=0.1"])
    assert str(info.value) == (
        "unknown key 'optimizer.lrr' in override 'optimizer.lrr=0.1'; did you mean "
        "'optimizer.lr'? Use +optimizer.lrr=... to add it"
    )


def test_unknown_parent_key_suggests_the_full_path():
    with pytest.raises(ConfigError, match="did you mean 'optimizer.lr'"):
        apply_overrides(_cfg(), ["optimzer.lr=0.1"])


def test_unknown_key_without_any_close_match():
    with pytest.raises(ConfigError) as info:
        apply_overrides(_cfg(), ["zzzz=1"])
    assert str(info.value) == "unknown key 'zzzz' in override 'zzzz=1'. Use +zzzz=... to add it"


@pytest.mark.parametrize("override", ["hooks.2.type=C", "hooks.-3.type=C", "+hooks.3=1"])
def test_index_out_of_range(override):
    with pytest.raises(ConfigError, match=r"out of range in override .*'hooks' has 2 items"):
        apply_overrides(_cfg(), [override])


def test_non_index_into_a_list():
    with pytest.raises(ConfigError, match="'hooks' is a list; 'first' .* must be an index"):
        apply_overrides(_cfg(), ["hooks.first.type=C"])


@pytest.mark.parametrize("override", ["optimizer.lr.x=1", "+init.type=X"])
def test_cannot_descend_into_a_scalar(override):
    with pytest.raises(ConfigError, match="not a mapping or list"):
        apply_overrides(_cfg(), [override])


@pytest.mark.parametrize("override", ["optimizer.lr", "=1", "+=1", "a..b=1", ".a=1", "a.=1", ""])
def test_malformed_overrides(override):
    with pytest.raises(ConfigError, match="malformed override .*expected KEY=VALUE"):
        apply_overrides(_cfg(), [override])


def test_unparsable_value():
    with pytest.raises(ConfigError, match=r"cannot parse the value of override 'name=\[1,'"):
        apply_overrides(_cfg(), ["name=[1,"])


def test_object_tags_in_values_are_refused():
    with pytest.raises(ConfigError, match="not allowed"):
        apply_overrides(_cfg(), ["name=!!python/object/apply:os.system ['true']"])


def test_a_single_string_is_not_a_list_of_overrides():
    with pytest.raises(TypeError):
        apply_overrides(_cfg(), "name=1")


def test_overrides_through_load_config_record_their_source(write):
    path = write("a.yaml", "optimizer:\n  lr: 0.1\n  extra: {a: 1}\n")
    cfg = load_config(path, ["optimizer.extra={b: 2}"])
    assert cfg["optimizer"]["extra"] == {"b": 2}
    assert cfg.source_of("optimizer.extra.b") == "command line override"
    assert cfg.source_of("optimizer.lr") == f"{path}:2"


def test_override_on_a_config_object():
    cfg = Config.from_dict(_cfg())
    apply_overrides(cfg, ["name=y"])
    assert cfg["name"] == "y" and cfg.source_of("name") == "command line override"


@pytest.mark.parametrize(
    "value",
    ["abc", "1e-3", "true", "null", "", " x ", "a: b", "[1]", "#c", "a\nb", 0.1, 3, -2, None, True],
)
def test_format_override_value_round_trips(value):
    assert parse_override_value(format_override_value(value)) == value


def test_recursive_alias_in_a_value_is_an_error():
    with pytest.raises(ConfigError, match="recursive alias"):
        apply_overrides(_cfg(), ["name=&a [*a]"])
