"""The plugin seam: RetinaNet exists only through this plugin's entry point.

Fresh ``detplug`` processes: with the plugin blocked (``-p no:retinanet``) or invisible (its
distribution hidden from importlib.metadata, as if it were not installed), training a
RetinaNet config stops at the model with exit code 2 and a message that names the type and
the distribution to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

# The packaged model config (retinanet::models/retinanet_r50_fpn.yaml) as a file of the
# installed package: the detplug processes below block or hide this plugin, so its scope
# does not resolve there.
MODEL = files("detplug_retinanet") / "configs" / "models" / "retinanet_r50_fpn.yaml"

HIDE_AND_RUN = """
import sys, importlib_metadata
real = importlib_metadata.distributions
importlib_metadata.distributions = lambda **kw: [
    d for d in real(**kw) if d.metadata["Name"] != "detplug-retinanet"
]
from detplug_core.cli.main import main
main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    """A RetinaNet config that needs no dataset: the runner builds the model first."""
    path = tmp_path_factory.mktemp("seam") / "retinanet.yaml"
    path.write_text(f"_base_: {MODEL}\n")
    return path


def detplug(*args: str, script: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DETPLUG_")}
    cmd = (
        [sys.executable, "-c", script, *args]
        if script
        else [sys.executable, "-m", "detplug_core.cli.main", *args]
    )
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_blocked_plugin_names_the_type_and_the_distribution(config, tmp_path):
    res = detplug("-p", "no:retinanet", "train", str(config), "--work-dir", str(tmp_path))
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "'RetinaNet' is not registered" in res.stderr
    assert "detplug-retinanet" in res.stderr and "blocked" in res.stderr


def test_missing_plugin_suggests_pip_install(config, tmp_path):
    res = detplug("train", str(config), "--work-dir", str(tmp_path), script=HIDE_AND_RUN)
    assert res.returncode == 2, res.stderr
    assert "'RetinaNet' is not registered" in res.stderr
    assert "pip install detplug-retinanet" in res.stderr
