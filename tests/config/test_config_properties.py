"""Property-based tests: merge semantics, override round trips, dump/load round trips."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detplug_core.config import Config, apply_overrides, load_config, merge_dicts
from detplug_core.config.overrides import format_override_value

RESERVED = {"_base_", "_delete_"}

# ASCII (every YAML indicator and whitespace) plus the non-ASCII characters YAML treats
# specially: line/paragraph separators, NEL, BOM, NUL, no-break space, and plain letters.
ALPHABET = string.printable + "\x00\x07\x1b\x85\xa0\u2028\u2029\ufeffé中😀"
# Strings YAML 1.1 would read as something else, and reference-like text.
TRICKY = ["1e-3", "1.0e5", "yes", "No", "on", "null", "~", "1_000", "0x1f", "010", "1:20", ".inf"]
TRICKY += ["<<", "=", "", "- a", "a: b", "#x", "2024-01-02", "${a}", "$${a}", "x ${", "$$${y}"]
text = st.text(ALPHABET, max_size=12) | st.sampled_from(TRICKY)
keys = st.text(ALPHABET, min_size=1, max_size=6).filter(lambda k: k not in RESERVED)
# Key path segments for overrides: no dots, not an index, no leading "+", no "=".
path_keys = st.text(string.ascii_letters + string.digits + "_-é", min_size=1, max_size=8)
path_keys = path_keys.filter(lambda k: not k.lstrip("-").isdigit())
floats = st.floats(allow_nan=False)
scalars = st.none() | st.booleans() | st.integers() | floats | text
# Strings without "${": the value a plain override sets is not resolved.
plain_scalars = (
    st.none() | st.booleans() | st.integers() | floats | text.filter(lambda s: "${" not in s)
)


def nested(leaves: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3)
        ),
        max_leaves=8,
    )


configs = st.dictionaries(keys, nested(scalars), max_size=4)
# Enough examples to find real bugs while the whole config suite stays within seconds:
# merging is simple dict code, the YAML round trips are where surprises live.
fast = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
thorough = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _equal(a, b) -> bool:
    """Equal and of the same types all the way down (``==`` alone takes 1 == 1.0 == True)."""
    if isinstance(a, dict):
        return type(b) is dict and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return type(b) is list and len(a) == len(b) and all(map(_equal, a, b))
    return type(a) is type(b) and a == b


@fast
@given(configs)
def test_merge_with_itself_or_empty_is_identity(cfg):
    assert _equal(merge_dicts(cfg, cfg), cfg)
    assert _equal(merge_dicts(cfg, {}), cfg)
    assert _equal(merge_dicts({}, cfg), cfg)


@fast
@given(configs, configs)
def test_top_level_keys_of_the_override_win(base, top):
    merged = merge_dicts(base, top)
    assert merged.keys() == base.keys() | top.keys()
    for key, value in merged.items():
        if key not in top:
            assert value == base[key]
        elif isinstance(top[key], dict) and isinstance(base.get(key), dict):
            assert value == merge_dicts(base[key], top[key])
        else:
            assert value == top[key]


@fast
@given(configs, configs, configs)
def test_merge_is_associative(a, b, c):
    assert merge_dicts(merge_dicts(a, b), c) == merge_dicts(a, merge_dicts(b, c))


@fast
@given(configs, configs)
def test_merge_does_not_change_its_inputs(base, top):
    before = (repr(base), repr(top))
    merged = merge_dicts(base, top)
    for value in merged.values():
        if isinstance(value, dict | list):
            value.clear()
    assert (repr(base), repr(top)) == before


@fast
@given(configs, configs)
def test_delete_replaces_whatever_the_base_holds(base, top):
    merged = merge_dicts({"k": base}, {"k": {"_delete_": True, **top}})
    assert merged == {"k": top}


@thorough
@given(st.lists(path_keys, min_size=1, max_size=3), plain_scalars, plain_scalars)
def test_override_then_read_back_gives_the_value(path, old, new):
    cfg: dict = {}
    node = cfg
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = old
    key_path = ".".join(path)
    apply_overrides(cfg, [f"{key_path}={format_override_value(new)}"])
    assert _equal(Config.from_dict(cfg).get_path(key_path), new)


@thorough
@given(plain_scalars)
def test_added_key_reads_back(value):
    cfg: dict = {"a": {}}
    apply_overrides(cfg, [f"+a.b.c={format_override_value(value)}"])
    assert _equal(cfg["a"]["b"]["c"], value)


@thorough
@given(configs)
def test_dump_then_load_round_trips(cfg):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cfg.yaml"
        Config.from_dict(cfg).dump(path)
        assert _equal(load_config(path).to_dict(), cfg)
