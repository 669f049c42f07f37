"""The generated model and dataset plugins pass their own tests once installed.

(The hook kind is proven end to end, from a wheel in a fresh venv, in
test_wheel_roundtrip.py.) Installed for real with pip into a private ``--target`` folder
put on ``PYTHONPATH``; the checkout's other plugins are blocked so that only the core and
the generated plugins load.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

from detplug_core.scaffold import generate_plugin

pytestmark = pytest.mark.slow


def test_generated_model_and_dataset_plugins_pass_their_tests(tmp_path):
    folders = [
        generate_plugin(f"kit-{kind}", kind, tmp_path / "src") for kind in ("model", "dataset")
    ]
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            *map(str, folders),
        ],
        check=True,
        capture_output=True,
    )
    others = {ep.name for ep in importlib.metadata.entry_points(group="detplug.plugins")}
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "OMP_NUM_THREADS": "1",
        "DETPLUG_DISABLE_PLUGINS": ",".join(sorted(others)),
    }
    env.pop("DETPLUG_PLUGINS_AUTOLOAD", None)
    tests = [str(folder / "tests") for folder in folders]
    recipe = folders[0] / "tests" / "test_recipe.py"  # trains with detplug-fcos: run below
    res = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
        + ["--ignore", str(recipe)],
        cwd=tmp_path / "src",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "16 passed" in res.stdout

    # the packaged config (_base_: fcos::...) trains, with the first-party plugins loaded
    env["DETPLUG_DISABLE_PLUGINS"] = ""
    res = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(recipe)],
        cwd=tmp_path / "src",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed" in res.stdout
