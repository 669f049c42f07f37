"""What a plugin author gets wrong is caught when the plugin loads, with names: a misspelt
stage, a misspelt hookimpl argument, ``-p no:TYPO``. Fake distributions are written into a
folder on PYTHONPATH; detplug's own plugins are blocked (they are not what is tested)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from detplug_core import hookimpl
from detplug_core.errors import PluginWarning
from detplug_core.plugins.hookcheck import HookimplError, check_hookimpls, hookimpl_problems

DETPLUG = [sys.executable, "-m", "detplug_core.cli.main"]
INSTALLED = sorted({ep.name for ep in importlib.metadata.entry_points(group="detplug.plugins")})


def _module(**functions) -> types.ModuleType:
    module = types.ModuleType("fake_plugin")
    for name, function in functions.items():
        setattr(module, name, function)
    return module


def test_a_misspelt_stage_is_named_with_the_closest_hook():
    def after_train_itr(runner):
        pass

    unknown, wrong = hookimpl_problems(_module(after_train_itr=hookimpl(after_train_itr)), "P")
    assert wrong == []
    assert unknown == [
        "P: @hookimpl 'after_train_itr' matches no detplug hook, so it is never called; "
        "did you mean 'after_train_iter'?"
    ]
    with pytest.warns(PluginWarning, match="did you mean 'after_train_iter'"):
        check_hookimpls(_module(after_train_itr=hookimpl(after_train_itr)), "P", strict=False)
    with pytest.raises(HookimplError, match=r"never called; .* \[strict mode"):
        check_hookimpls(_module(after_train_itr=hookimpl(after_train_itr)), "P", strict=True)


def test_a_misspelt_argument_names_plugin_hook_argument_and_the_accepted_ones():
    def after_train_iter(runner, output, extra=None):  # a default is never passed: not checked
        pass

    with pytest.raises(HookimplError) as err:
        check_hookimpls(_module(after_train_iter=hookimpl(after_train_iter)), "P", strict=False)
    assert str(err.value) == (
        "P: @hookimpl after_train_iter() asks for argument 'output' (did you mean 'outputs'?), "
        "which after_train_iter does not pass; it passes: runner, batch_idx, data_batch, outputs"
    )


def test_optional_hooks_and_correct_hookimpls_pass():
    def other_plugins_hook(thing):
        pass

    def after_val_epoch(runner, metrics):
        pass

    plugin = _module(
        other_plugins_hook=hookimpl(optionalhook=True)(other_plugins_hook),
        after_val_epoch=hookimpl(after_val_epoch),
    )
    assert hookimpl_problems(plugin, "P") == ([], [])


def _install(site: Path, scope: str, code: str) -> None:
    package = f"detplug_{scope}"
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(textwrap.dedent(code))
    info = site / f"{package}-0.1.0.dist-info"
    info.mkdir()
    name = f"detplug-{scope}"
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[detplug.plugins]\n{scope} = {package}\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    _install(
        site,
        "typo",
        """
        from detplug_core import hookimpl

        @hookimpl
        def after_train_itr(runner):
            pass
        """,
    )
    _install(
        site,
        "badarg",
        """
        from detplug_core import hookimpl

        @hookimpl
        def after_train_iter(runner, output):
            pass
        """,
    )
    return site


def _detplug(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(site), "DETPLUG_DISABLE_PLUGINS": ",".join(INSTALLED)}
    full.pop("DETPLUG_STRICT_PLUGINS", None)
    full.update(env)
    return subprocess.run([*DETPLUG, *args], capture_output=True, text=True, env=full, timeout=120)


def test_plugins_loaded_with_hookimpl_mistakes_are_reported_by_name(site):
    res = _detplug(site, "plugins", "--json")
    assert res.returncode == 0, res.stderr
    rows = {row["name"]: row for row in json.loads(res.stdout)}
    typo, badarg = rows["typo"], rows["badarg"]
    assert typo["status"] == "loaded" and "did you mean 'after_train_iter'" in typo["warnings"][0]
    assert (
        "warning: plugin 'typo' (detplug-typo 0.1.0): @hookimpl 'after_train_itr' matches no "
        "detplug hook, so it is never called; did you mean 'after_train_iter'?"
    ) in res.stderr.splitlines()
    assert badarg["status"] == "failed"
    assert badarg["error"].startswith(
        "plugin 'badarg' (detplug-badarg 0.1.0): @hookimpl after_train_iter() asks for "
        "argument 'output' (did you mean 'outputs'?)"
    )


def test_strict_mode_makes_a_misspelt_stage_fatal(site):
    res = _detplug(site, "-p", "no:badarg", "registry", "models", DETPLUG_STRICT_PLUGINS="1")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: plugin 'typo' (detplug-typo 0.1.0): @hookimpl 'after_train_itr' matches no "
        "detplug hook, so it is never called; did you mean 'after_train_iter'? "
        "[strict mode: DETPLUG_STRICT_PLUGINS=1]"
    ]
    res = _detplug(site, "-p", "no:typo", "registry", "models", DETPLUG_STRICT_PLUGINS="1")
    assert res.returncode == 2 and "argument 'output'" in res.stderr
    assert res.stderr.count("plugin 'badarg'") == 1


def test_blocking_a_plugin_that_does_not_exist_warns_with_the_installed_names(site):
    res = _detplug(site, "-p", "no:typpo", "registry", "models")
    assert res.returncode == 0, res.stderr
    (line,) = [x for x in res.stderr.splitlines() if "typpo" in x]
    assert line.startswith("warning: -p / DETPLUG_DISABLE_PLUGINS names 'typpo', which is no")
    assert "did you mean 'typo'?" in line and "installed plugins: badarg, " in line
