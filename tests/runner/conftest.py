"""Fixtures of the Runner tests.

The tests use a real plugin distribution, ``detplug-runner-toy`` (tests/runner/toy_plugin):
a tiny dense detector, a generated dataset, transforms, a metric and hooks.

* Subprocess tests (``detplug train`` / ``detplug test`` / torchrun) get it pip-installed
  for real into a private ``--target`` folder put on ``PYTHONPATH`` (the venv is not
  touched), and run with ``DETPLUG_PLUGINS_AUTOLOAD=0 -p runner_toy`` so that only the core
  and the toy plugin load: other plugins of the checkout cannot slow or break these tests.
* In-process tests import the package from its source folder once per session; its
  components are removed from the registries again at the end of the session.

Every process uses one torch thread (``OMP_NUM_THREADS=1``): on a small shared machine
several threads per process make each iteration many times slower.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TOY_SRC = Path(__file__).parent / "toy_plugin"
DETPLUG = [sys.executable, "-m", "detplug_core.cli.main"]


@pytest.fixture(scope="session")
def toy_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where detplug-runner-toy is installed (put it on PYTHONPATH)."""
    target = tmp_path_factory.mktemp("toy_site")
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
            str(target),
            str(TOY_SRC),
        ],
        check=True,
        capture_output=True,
    )
    return target


def cli_env(site: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "DETPLUG_PLUGINS_AUTOLOAD": "0",
        "OMP_NUM_THREADS": "1",
        "DETPLUG_PROGRESS": "lines",
        **extra,
    }
    for name in (
        "DETPLUG_STRICT_PLUGINS",
        "DETPLUG_TOY_KILL_AT",
        "DETPLUG_TOY_SIGNAL_AT",
        "DETPLUG_TOY_FAIL_AT",
    ):
        if name not in extra:
            env.pop(name, None)
    return env


@pytest.fixture
def toy_env(toy_site: Path):
    """``toy_env(**extra)``: the environment of a CLI process that finds the toy plugin."""
    return lambda **extra: cli_env(toy_site, **extra)


@pytest.fixture
def detplug(toy_site: Path, tmp_path: Path):
    """``detplug(*args, env={...})`` runs the CLI (with the toy plugin) in ``tmp_path``."""

    def run(*args: str, env: dict | None = None, timeout: float = 180):
        return subprocess.run(
            [*DETPLUG, "-p", "runner_toy", *args],
            cwd=tmp_path,
            env=cli_env(toy_site, **(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def toy() -> Iterator[object]:
    """The toy plugin imported in this process (components registered for the session)."""
    from detplug_core.testing.isolation import registry_snapshot, restore

    snapshot = registry_snapshot()
    sys.path.insert(0, str(TOY_SRC))
    import detplug_runner_toy

    yield detplug_runner_toy
    restore(snapshot)
    sys.path.remove(str(TOY_SRC))
    for name in [m for m in sys.modules if m.split(".")[0] == "detplug_runner_toy"]:
        del sys.modules[name]


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def toy_config():
    """``toy_config(work_dir, **top_level_changes)``: see :func:`make_toy_config`."""
    return make_toy_config


def make_toy_config(work_dir: Path, **changes) -> dict:
    """A small complete training config over the toy plugin (epoch-based, 2 epochs)."""
    cfg = {
        "model": {"type": "ToyDetector"},
        "train_dataloader": {
            "batch_size": 4,
            "num_workers": 0,
            "dataset": {
                "type": "ToyShapes",
                "num_images": 12,
                "transforms": [{"type": "ToyRandomFlip"}],
            },
        },
        "val_dataloader": {
            "batch_size": 4,
            "dataset": {"type": "ToyShapes", "num_images": 6, "seed": 1},
        },
        "metrics": [{"type": "ToyMetric"}],
        "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4},
        "param_schedulers": [],
        "train": {"by_epoch": True, "max_epochs": 2, "log_interval": 1},
        "checkpoint": {"interval": 1, "keep_last": 2},
        "hooks": [],
        "work_dir": str(work_dir),
        "seed": 0,
        "deterministic": True,
    }
    for key, value in changes.items():
        cfg[key] = value
    return cfg


ITER_CONFIG = """\
# iteration-based; workers with a random transform; chained lr schedule; stateful hook
model: {type: ToyDetector}
train_dataloader:
  batch_size: 4
  num_workers: 2
  persistent_workers: true
  dataset: {type: ToyShapes, num_images: 16, transforms: [{type: ToyRandomFlip}]}
val_dataloader:
  batch_size: 4
  dataset: {type: ToyShapes, num_images: 6, seed: 1}
metrics: [{type: ToyMetric}]
optimizer:
  {type: SGD, lr: 0.05, momentum: 0.9, weight_decay: 0.0001, paramwise: {norm_decay_mult: 0.0}}
param_schedulers:
  - {type: LinearWarmup, start_factor: 0.2, end: 5, by_epoch: false}
  - {type: MultiStep, milestones: [2], gamma: 0.5, by_epoch: true}
train: {by_epoch: false, max_iters: 12, val_interval: 6, log_interval: 3}
checkpoint: {interval: 2, keep_last: 2, save_best: toy/recall}
hooks: [{type: ToyCounterHook}]
seed: 3
deterministic: true
"""


@pytest.fixture(scope="session")
def iter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("configs") / "toy_iter.yaml"
    path.write_text(ITER_CONFIG)
    return path


@pytest.fixture(scope="session")
def reference_run(toy_site: Path, iter_config: Path, tmp_path_factory) -> Path:
    """An uninterrupted ``detplug train`` of ITER_CONFIG; returns its work dir."""
    cwd = tmp_path_factory.mktemp("reference")
    res = subprocess.run(
        [*DETPLUG, "-p", "runner_toy", "train", str(iter_config)],
        cwd=cwd,
        env=cli_env(toy_site),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return cwd / "work_dirs" / "toy_iter"
