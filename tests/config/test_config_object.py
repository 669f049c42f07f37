"""The Config object itself."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import pytest

from detplug_core.config import Config, ConfigKeyError, load_config
from detplug_core.errors import ConfigError


def _cfg() -> Config:
    return Config.from_dict({"model": {"head": {"n": 3}}, "hooks": [{"type": "A"}]}, "x.yaml")


def test_from_dict_copies_into_plain_containers():
    data = {"a": {"b": (1, 2)}}
    cfg = Config.from_dict(data, filename="f.yaml")
    assert cfg == {"a": {"b": [1, 2]}} and cfg.filename == "f.yaml"
    cfg["a"]["c"] = 1
    assert data == {"a": {"b": (1, 2)}}
    assert Config.from_dict({}).filename is None


def test_to_dict_is_a_deep_plain_copy():
    cfg = _cfg()
    plain = cfg.to_dict()
    assert type(plain) is dict and plain == cfg
    plain["model"]["head"]["n"] = 4
    assert cfg["model"]["head"]["n"] == 3


def test_get_path():
    cfg = _cfg()
    assert cfg.get_path("model.head.n") == 3
    assert cfg.get_path("hooks.0.type") == "A"
    assert cfg.get_path("hooks.-1") == {"type": "A"}
    assert cfg.get_path("model.head.m", None) is None


def test_get_path_missing_is_a_config_and_key_error():
    with pytest.raises(ConfigKeyError) as info:
        _cfg().get_path("model.haed.n")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ConfigError)
    assert (
        str(info.value)
        == "no key 'model.haed.n' in the config of x.yaml; did you mean 'model.head.n'?"
    )


def test_int_keys_are_reachable_by_path(write):
    cfg = load_config(write("a.yaml", "classes:\n  1: cat\n"), ["classes.1=dog"])
    assert cfg == {"classes": {1: "dog"}} and cfg.get_path("classes.1") == "dog"


def test_copy_pickle_and_deepcopy_keep_filename_and_sources(write):
    path = write("a.yaml", "a: {b: 1}\n")
    cfg = load_config(path)
    for other in (cfg.copy(), copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        assert isinstance(other, Config) and other == cfg
        assert other.filename == str(path) and other.source_of("a.b") == f"{path}:1"


def test_repr_names_the_file():
    assert repr(_cfg()).startswith("Config({'model'") and "filename='x.yaml'" in repr(_cfg())


def test_importing_the_config_package_does_not_import_torch():
    code = "import sys, detplug_core.config; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
