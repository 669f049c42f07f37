"""A scaffolded hook plugin, built into a wheel and installed into a fresh virtual
environment beside detplug-core: listed, its own tests pass, a ``detplug train`` run calls
its hooks in the documented order (docs/hooks.md), and ``pip uninstall`` removes it.

The fresh venv is made with ``python -m venv --without-pip``; a ``.pth`` file makes this
environment's site-packages (torch, pip, detplug-core and the checkout's plugins) visible
behind its own, so nothing is downloaded. The other detplug plugins of the checkout are
blocked (``DETPLUG_DISABLE_PLUGINS``): they are not what is tested and would only cost time.
The training data and model come from the Runner tests' toy plugin (tests/runner/toy_plugin),
installed into the venv as well.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

NAME = "roundtrip-probe"
DIST, MODULE, SCOPE = "detplug-roundtrip-probe", "detplug_roundtrip_probe", "roundtrip_probe"
STAGE_LOG_ENV = "DETPLUG_ROUNDTRIP_PROBE_STAGE_LOG"
TOY_PLUGIN = Path(__file__).parents[1] / "runner" / "toy_plugin"

pytestmark = pytest.mark.slow


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 240):
    res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{cmd}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    return res


class FreshVenv:
    """A venv in ``root`` that sees this environment's packages behind its own."""

    def __init__(self, root: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.root = root
        self.python = str(root / "bin" / "python")
        purelib = subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.site = Path(purelib)
        parent = sysconfig.get_paths()["purelib"]
        # ``import`` lines of a .pth run at start-up; addsitedir also runs the .pth files
        # there (the editable installs of detplug-core and the plugins).
        (self.site / "zz_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
        # Block the checkout's plugins (this environment's); never the toy plugin installed
        # into the venv below, which an earlier test may have put on this process's path.
        blocked = {ep.name for ep in importlib.metadata.entry_points(group="detplug.plugins")}
        blocked.discard("runner_toy")
        self.env = {
            **os.environ,
            "DETPLUG_DISABLE_PLUGINS": ",".join(sorted(blocked)),
            "DETPLUG_PROGRESS": "lines",
            "OMP_NUM_THREADS": "1",
            "PYTHONNOUSERSITE": "1",
        }
        for name in (
            "PYTHONPATH",
            "DETPLUG_PLUGINS_AUTOLOAD",
            "DETPLUG_STRICT_PLUGINS",
            "DETPLUG_TRACE_HOOKS",
            "VIRTUAL_ENV",
        ):
            self.env.pop(name, None)

    def pip(self, *args: str, cwd: Path):
        return run([self.python, "-m", "pip", *args], self.env, cwd)

    def detplug(self, *args: str, cwd: Path, env: dict[str, str] | None = None):
        cmd = [self.python, "-P", "-m", "detplug_core.cli.main", *args]
        return run(cmd, {**self.env, **(env or {})}, cwd)

    def plugin_rows(self, cwd: Path) -> dict[str, dict]:
        rows = json.loads(self.detplug("plugins", "--json", cwd=cwd).stdout)
        return {row["distribution"]: row for row in rows}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("roundtrip")


@pytest.fixture(scope="module")
def plugin_dir(work: Path) -> Path:
    """``detplug new-plugin roundtrip-probe --kind hook --dir work/src``."""
    run(
        [
            sys.executable,
            "-m",
            "detplug_core.cli.main",
            "new-plugin",
            NAME,
            "--kind",
            "hook",
            "--dir",
            str(work / "src"),
        ],
        dict(os.environ),
        work,
    )
    return work / "src" / DIST


@pytest.fixture(scope="module")
def wheel(plugin_dir: Path, work: Path) -> Path:
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(work / "dist"),
            str(plugin_dir),
        ],
        dict(os.environ),
        work,
    )
    (whl,) = (work / "dist").glob(f"{MODULE}-0.1.0-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(work: Path, wheel: Path) -> FreshVenv:
    env = FreshVenv(work / "venv")
    env.pip("install", "-q", "--no-deps", "--no-index", str(wheel), cwd=work)
    env.pip(
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",
        str(TOY_PLUGIN),
        cwd=work,
    )
    return env


def test_the_installed_wheel_is_listed_by_detplug_plugins(venv: FreshVenv, work: Path):
    rows = venv.plugin_rows(work)
    row = rows[DIST]
    assert (row["name"], row["version"], row["module"], row["status"]) == (
        SCOPE,
        "0.1.0",
        MODULE,
        "loaded",
    )
    assert row["components"] == {"hooks": [f"{SCOPE}.RoundtripProbeHook"]}
    find = f"import importlib.util; print(importlib.util.find_spec({MODULE!r}).origin)"
    located = run([venv.python, "-P", "-c", find], venv.env, work).stdout.strip()
    assert Path(located).is_relative_to(venv.site)  # the wheel's copy, not the source


def test_the_generated_tests_pass_against_the_installed_plugin(venv, plugin_dir: Path):
    # its tests/test_recipe.py trains from its packaged config, whose _base_ is
    # fcos::fcos_r18_fpn_shapes.yaml: the checkout's plugins are not blocked for this one
    env = {**venv.env, "DETPLUG_DISABLE_PLUGINS": ""}
    res = run([venv.python, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider"], env, plugin_dir)
    assert " passed" in res.stdout and "failed" not in res.stdout


TRAIN_CONFIG = """\
model: {type: ToyDetector}
train_dataloader:
  batch_size: 4
  num_workers: 0
  dataset: {type: ToyShapes, num_images: 8}
val_dataloader:
  batch_size: 4
  dataset: {type: ToyShapes, num_images: 4, seed: 1}
metrics: [{type: ToyMetric}]
optimizer: {type: SGD, lr: 0.01}
train: {by_epoch: true, max_epochs: 2, log_interval: 1}
checkpoint: {interval: 1}
hooks:
  - {type: roundtrip_probe.RoundtripProbeHook, interval: 2}
seed: 0
device: cpu
required_plugins: ["detplug-roundtrip-probe>=0.1"]
"""

EPOCH = [
    "before_train_epoch",
    *["before_train_iter", "after_train_iter"] * 2,  # 8 images in batches of 4
    "after_train_epoch",
    "before_val",
    "before_val_epoch",
    "after_val_epoch",
    "after_val",
    "before_save_checkpoint",
]


def test_detplug_train_calls_the_hooks_in_the_documented_order(venv: FreshVenv, work: Path):
    (work / "probe.yaml").write_text(TRAIN_CONFIG)
    log = work / "stages.txt"
    trace = {STAGE_LOG_ENV: str(log), "DETPLUG_TRACE_HOOKS": "before_run"}
    res = venv.detplug("train", "probe.yaml", "--work-dir", "run", cwd=work, env=trace)
    assert log.read_text().split() == [
        "before_run",
        "before_train",
        *EPOCH,
        *EPOCH,
        "after_train",
        "after_run",
    ]
    assert "[detplug hook] before_run -> hooks.0:RoundtripProbeHook" in res.stderr
    last = json.loads((work / "run" / "scalars.jsonl").read_text().splitlines()[-1])
    assert f"{SCOPE}/mean_loss" in last


def test_pip_uninstall_removes_it_cleanly(venv: FreshVenv, work: Path):
    venv.pip("uninstall", "-y", "-q", DIST, cwd=work)
    rows = venv.plugin_rows(work)
    assert DIST not in rows
    assert "detplug-runner-toy" in rows  # the rest is untouched
    found = run(
        [
            venv.python,
            "-P",
            "-c",
            f"import importlib.util; print(importlib.util.find_spec({MODULE!r}))",
        ],
        venv.env,
        work,
    ).stdout.strip()
    assert found == "None"
    assert sorted(p.name for p in venv.site.iterdir() if p.name.startswith(MODULE)) == []
