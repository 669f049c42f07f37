"""``SCOPE::path``: configs shipped inside installed distributions.

The distributions here are real installed layouts written into a folder on ``sys.path``: a
package holding ``configs/`` and a ``.dist-info`` with its ``detplug.plugins`` entry point.
Their ``__init__.py`` raises, which proves that resolving a packaged config never imports
the plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import importlib_metadata
import pytest
import yaml

from detplug_core.config import load_config
from detplug_core.errors import ConfigError

DETPLUG = [sys.executable, "-m", "detplug_core.cli.main"]
NEVER_IMPORT = "raise RuntimeError('resolving a packaged config must not import the plugin')\n"


def install_fake(site: Path, dist: str, scope: str, package: str, files: dict[str, str]) -> None:
    """Write an installed distribution ``dist`` (entry point ``scope = package``) into site."""
    pkg = site / package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(NEVER_IMPORT)
    for name, text in files.items():
        path = pkg / "configs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[detplug.plugins]\n{scope} = {package}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two fake plugins: ``demo`` (recipes, a model base) and ``other`` (data, common)."""
    site = tmp_path / "site"
    install_fake(
        site,
        "detplug-demo-configs",
        "demo",
        "detplug_demo_configs",
        {
            "recipe.yaml": """
                # A demo recipe: a packaged model base plus another plugin's data.
                _base_: [models/tiny.yaml, other::datasets/data.yaml, detplug::default_runtime.yaml]
                optimizer: {type: SGD, lr: 0.1}
                """,
            "models/tiny.yaml": """
                _base_: other::common.yaml
                model: {type: demo.Tiny, width: 8}
                """,
        },
    )
    install_fake(
        site,
        "detplug-other-configs",
        "other",
        "detplug_other_configs",
        {
            "common.yaml": "model: {depth: 2}\nnote: from other\n",
            "datasets/data.yaml": "train_dataloader: {batch_size: 4}\n",
        },
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("DETPLUG_DISABLE_PLUGINS", raising=False)
    return site


def package_file(site: Path, package: str, name: str) -> str:
    return str(site / package / "configs" / name)


def test_base_names_a_packaged_config(site, tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("_base_: demo::models/tiny.yaml\nmodel: {width: 16}\n")
    cfg = load_config(user)
    assert cfg == {"model": {"type": "demo.Tiny", "width": 16, "depth": 2}, "note": "from other"}
    tiny = package_file(site, "detplug_demo_configs", "models/tiny.yaml")
    assert cfg.source_of("model.type") == f"{tiny}:2"
    assert cfg.source_of("model.width") == f"{user}:2"


def test_a_packaged_config_named_directly_with_nested_packaged_bases(site):
    cfg = load_config("demo::recipe.yaml", ["optimizer.lr=0.2"])
    assert cfg["model"] == {"depth": 2, "type": "demo.Tiny", "width": 8}
    assert cfg["train_dataloader"] == {"batch_size": 4}
    assert cfg["seed"] == 0  # from detplug::default_runtime.yaml, shipped in the core
    assert cfg["optimizer"] == {"type": "SGD", "lr": 0.2}
    assert cfg.filename == package_file(site, "detplug_demo_configs", "recipe.yaml")
    assert [name for name, _ in cfg.files] == [
        "other::common.yaml",
        "demo::models/tiny.yaml",
        "other::datasets/data.yaml",
        "detplug::default_runtime.yaml",
        "demo::recipe.yaml",
    ]
    assert all(os.path.isfile(path) for _, path in cfg.files)


def test_a_scope_that_is_not_installed_names_the_entry_point(site, tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("seed: 1\n_base_: nosuch::x.yaml\n")
    with pytest.raises(ConfigError) as err:
        load_config(user)
    message = str(err.value)
    assert message.startswith(f"{user}:2: 'nosuch::x.yaml': ")
    assert "no installed plugin has the entry-point name 'nosuch'" in message
    assert "demo" in message and "other" in message  # the scopes that are installed


def test_a_first_party_scope_that_is_not_installed_gives_the_pip_command(site, monkeypatch):
    real = importlib_metadata.distributions
    monkeypatch.setattr(
        importlib_metadata,
        "distributions",
        lambda **kw: [d for d in real(**kw) if d.metadata["Name"] != "detplug-shapes"],
    )
    with pytest.raises(
        ConfigError,
        match=r"run: pip install detplug-shapes \(or the extra that brings it: .*'detplug-fcos\[shapes\]'",
    ):
        load_config("shapes::datasets/shapes.yaml")


@pytest.mark.parametrize("blocked", ["other", "detplug-other-configs", "detplug_other_configs"])
def test_a_blocked_scope_says_so(site, monkeypatch, blocked):
    monkeypatch.setenv("DETPLUG_DISABLE_PLUGINS", blocked)
    with pytest.raises(ConfigError) as err:
        load_config("demo::recipe.yaml")
    message = str(err.value)
    tiny = package_file(site, "detplug_demo_configs", "models/tiny.yaml")
    assert message.startswith(f"{tiny}:1: 'other::common.yaml': the plugin 'other'")
    assert "(detplug-other-configs) is installed but blocked" in message


def test_a_wrong_path_lists_the_closest_names(site):
    with pytest.raises(ConfigError) as err:
        load_config("demo::recipes.yaml")
    message = str(err.value)
    assert "detplug-demo-configs 0.1.0 ships no config 'recipes.yaml'" in message
    assert "closest: demo::recipe.yaml" in message
    with pytest.raises(ConfigError, match=r"closest: demo::models/tiny\.yaml"):
        load_config("demo::tiny.yaml")  # the right file name in another folder
    with pytest.raises(ConfigError, match="ships no config 'nothing_like_it.yaml' \\(all of"):
        load_config("demo::nothing_like_it.yaml")


def test_the_core_scope_and_its_errors():
    assert load_config("detplug::default_runtime.yaml")["seed"] == 0
    assert load_config("detplug::schedules/schedule_1x.yaml")["train"]["max_epochs"] == 12
    with pytest.raises(ConfigError, match=r"closest: detplug::schedules/schedule_1x\.yaml"):
        load_config("detplug::schedule_1x.yaml")


@pytest.mark.parametrize("name", ["demo::../../x.yaml", "demo::/etc/x.yaml", "demo::", "::x.yaml"])
def test_a_packaged_name_cannot_leave_the_plugin_s_configs(site, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        load_config(name)


def run_cli(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("DETPLUG_DISABLE_PLUGINS", None)
    return subprocess.run([*DETPLUG, *args], capture_output=True, text=True, env=env, timeout=120)


def test_detplug_config_shows_the_merged_result_naming_each_source_file(site):
    res = run_cli(site, "config", "demo::recipe.yaml", "model.width=4")
    assert res.returncode == 0, res.stderr
    header = [line for line in res.stdout.splitlines() if line.startswith("#")]
    assert header[0].startswith("# merged from, in order")
    recipe = package_file(site, "detplug_demo_configs", "recipe.yaml")
    assert header[-1] == f"#   demo::recipe.yaml  ({recipe})"
    assert f"#   other::datasets/data.yaml  ({site / 'detplug_other_configs'}" in res.stdout
    assert "#   detplug::default_runtime.yaml  (" in res.stdout
    merged = yaml.safe_load(res.stdout)
    assert merged["model"] == {"depth": 2, "type": "demo.Tiny", "width": 4}
    assert merged["note"] == "from other"


def test_command_line_errors_are_one_line_with_exit_code_2(site):
    res = run_cli(site, "-p", "no:demo", "config", "demo::recipe.yaml")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "blocked" in res.stderr
    res = run_cli(site, "train", "demo::recipes.yaml")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "closest: demo::recipe.yaml" in res.stderr
    res = run_cli(site, "test", "nosuch::x.yaml")
    assert res.returncode == 2 and "entry-point name 'nosuch'" in res.stderr


def test_detplug_configs_lists_every_packaged_config_and_marks_plugins_that_fail(site):
    res = run_cli(site, "configs", "--json")
    assert res.returncode == 0, res.stderr
    rows = {row["name"]: row for row in json.loads(res.stdout)}
    recipe = rows["demo::recipe.yaml"]
    # the fake plugins raise when imported: their configs are listed, marked unusable
    assert recipe["problem"] == (
        "plugin failed to load: RuntimeError: resolving a packaged config must not import "
        "the plugin"
    )
    assert rows["detplug::default_runtime.yaml"]["problem"] is None
    assert recipe["distribution"] == "detplug-demo-configs" and recipe["version"] == "0.1.0"
    assert (
        recipe["description"] == "A demo recipe: a packaged model base plus another plugin's data."
    )
    assert recipe["file"] == package_file(site, "detplug_demo_configs", "recipe.yaml")
    assert rows["demo::models/tiny.yaml"]["description"] == ""  # no leading comment
    assert {"other::common.yaml", "other::datasets/data.yaml"} <= set(rows)
    assert "detplug::default_runtime.yaml" in rows  # the core's own


def test_detplug_configs_filters_by_word_or_pattern_and_skips_blocked_plugins(site):
    res = run_cli(site, "configs", "demo::*")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [
        "demo::models/tiny.yaml",
        "demo::recipe.yaml",
    ]
    assert "detplug-demo-configs 0.1.0" in res.stdout and "[plugin failed to load:" in lines[1]
    assert lines[-1].startswith("(configs marked [...] cannot be built as they are")
    res = run_cli(site, "configs", "other::DATA")  # a word: any case
    assert res.stdout.splitlines()[0].split()[0] == "other::datasets/data.yaml"
    res = run_cli(site, "-p", "no:other", "configs", "other")
    assert res.returncode == 0
    assert res.stdout.splitlines() == [
        "no packaged config matches 'other'",
        "(not listed: blocked plugins other)",
    ]


def test_a_missing_plugin_names_the_extra_that_brings_it(tmp_path, monkeypatch):
    """A recipe's ``required_plugins`` names a plugin that is not installed; the plugin that
    ships the recipe offers it as an extra: the error gives both pip commands."""
    from detplug_core.errors import PluginError
    from detplug_core.plugins import ensure_loaded
    from detplug_core.plugins.requirements import check_required_plugins

    ensure_loaded()  # before the fake is on sys.path: it must never be imported as a plugin
    site = tmp_path / "site"
    install_fake(site, "detplug-demo-configs", "demo", "detplug_demo_configs", {})
    metadata = site / "detplug_demo_configs-0.1.0.dist-info" / "METADATA"
    metadata.write_text(
        metadata.read_text()
        + "Provides-Extra: shapes\n"
        + 'Requires-Dist: detplug-not-here<0.2,>=0.1; extra == "shapes"\n'
    )
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError) as err:
        check_required_plugins({"required_plugins": ["detplug-not-here>=0.1"]})
    assert str(err.value) == (
        "this config requires detplug-not-here>=0.1, which is not installed; run: pip install "
        "'detplug-not-here>=0.1' (or the extra that brings it: "
        "pip install 'detplug-demo-configs[shapes]')"
    )


def test_detplug_configs_with_an_unknown_or_blocked_scope_is_an_error(site):
    res = run_cli(site, "configs", "nope::")
    assert res.returncode == 2 and res.stdout == ""
    assert "no installed plugin has the entry-point name 'nope'" in res.stderr
    assert "demo" in res.stderr and "other" in res.stderr  # the scopes that exist
    res = run_cli(site, "-p", "no:other", "configs", "other::*")
    assert res.returncode == 2 and "blocked" in res.stderr
    assert run_cli(site, "configs", "*::*tiny*").returncode == 0  # a pattern for the scope
