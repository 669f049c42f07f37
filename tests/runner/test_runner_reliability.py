"""Bad input is one line with exit 2 (issue 14): wrong-typed config values with their
file and line, work dirs that are files, one run per work dir, checkpoints that would run
code or do not fit, ``--resume DIR``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch

from detplug_core.config import load_config
from detplug_core.config.locate import located_errors
from detplug_core.errors import (
    BuildError,
    CheckpointError,
    ComponentError,
    ConfigError,
    NotFoundError,
)
from detplug_core.registry import MODELS
from detplug_core.registry.build import build_from_cfg
from detplug_core.runner import Runner
from detplug_core.runner.checkpoint import load_file, save_file
from detplug_core.runner.checkpoint_messages import mismatch_message, resolve_checkpoint_path
from detplug_core.runner.workdir_lock import LOCK_NAME, WorkDirBusyError, WorkDirLock

TOY_YAML = """\
model:
  type: ToyDetector
  num_classes: {num_classes}
train_dataloader:
  batch_size: 4
  num_workers: 0
  dataset: {{type: ToyShapes, num_images: 8}}
optimizer: {{type: SGD, lr: 0.05}}
train: {{by_epoch: true, max_epochs: 1, log_interval: 1}}
checkpoint: {{interval: 1}}
work_dir: {work_dir}
"""


def _train(cfg):
    with located_errors(cfg), Runner(cfg) as runner:
        runner.train()


@pytest.fixture
def toy_yaml(tmp_path, toy):
    def make(num_classes="2", overrides=()):
        path = tmp_path / "toy.yaml"
        path.write_text(TOY_YAML.format(num_classes=num_classes, work_dir=tmp_path / "work"))
        return load_config(path, list(overrides))

    return make


@pytest.mark.parametrize(
    ("num_classes", "overrides", "expected"),
    [
        ("[3]", (), "toy.yaml:3: model.num_classes: ToyDetector expects int, got [3]"),
        ("abc", (), "toy.yaml:3: model.num_classes: ToyDetector expects int, got 'abc'"),
        ("2", ("optimizer.lr=fast",), "command line override: optimizer.lr: expected a number"),
        ("2", ("+optimizer.momentum=[1]",), "optimizer.momentum: SGD expects"),
        ("2", ("train_dataloader.num_workers=-1",), "train_dataloader.num_workers: expected 0"),
        ("2", ("train_dataloader.dataset.num_images=x",), "dataset.num_images: ToyShapes expects"),
        ("2", ("+clip_grad={max_norm: abc}",), "clip_grad.max_norm: expected a number, got 'abc'"),
        ("2", ("model.type=ToyDetectr",), "command line override: model.type: 'ToyDetectr'"),
    ],
)
def test_wrong_typed_values_are_one_line_with_key_value_and_place(
    toy_yaml, num_classes, overrides, expected
):
    cfg = toy_yaml(num_classes, overrides)
    with pytest.raises((BuildError, ConfigError, NotFoundError)) as info:
        _train(cfg)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert info.value.exit_code == 2


class _Refuses:
    def __init__(self, depth: object = 1) -> None:
        raise ValueError(f"depth must be 18 or 50, got {depth!r}")


class _Buggy:
    def __init__(self, depth: object = 1) -> None:
        raise AttributeError("'NoneType' object has no attribute 'shape'")


def test_a_refused_value_names_the_argument_and_a_bug_exits_1_naming_the_component():
    with pytest.raises(BuildError) as info:
        build_from_cfg({"type": _Refuses, "depth": 7}, MODELS, path="model.backbone")
    assert str(info.value).startswith("model.backbone.depth: _Refuses (")
    assert "refused the value 7" in str(info.value) and info.value.exit_code == 2
    with pytest.raises(ComponentError) as info:
        build_from_cfg({"type": _Buggy, "depth": 7}, MODELS, path="model.backbone")
    assert str(info.value).startswith("model.backbone: building _Buggy (")
    assert "AttributeError" in str(info.value) and info.value.exit_code == 1


@pytest.mark.parametrize("where", ["afile", "afile/sub/dir"])
def test_a_work_dir_that_is_a_file_or_under_one_is_refused(tmp_path, toy_config, toy, where):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="is a file|which is a file") as info:
        Runner(toy_config(tmp_path / where))
    assert info.value.exit_code == 2


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_work_dir_lock_refuses_a_live_holder_and_takes_over_a_stale_one(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = socket.gethostname()
        (tmp_path / LOCK_NAME).write_text(
            f'{{"host": "{host}", "pid": {sleeper.pid}, "started": "now"}}'
        )
        with pytest.raises(WorkDirBusyError, match=f"pid {sleeper.pid} on {host}") as info:
            WorkDirLock(tmp_path).acquire()
        assert "\n" not in str(info.value)
    finally:
        sleeper.kill()
        sleeper.wait()
    # its holder died without cleaning up (kill -9): stale, taken over
    lock = WorkDirLock(tmp_path)
    lock.acquire()
    assert lock.replaced["pid"] == sleeper.pid
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
    # a holder on another host cannot be checked from here: refused
    (tmp_path / LOCK_NAME).write_text(f'{{"host": "elsewhere", "pid": {_dead_pid()}}}')
    with pytest.raises(WorkDirBusyError, match="on elsewhere"):
        WorkDirLock(tmp_path).acquire()


def test_a_second_training_run_on_a_busy_work_dir_is_refused(tmp_path, toy_config, toy):
    holder = WorkDirLock(tmp_path / "work")
    holder.acquire()
    try:
        with pytest.raises(WorkDirBusyError, match=f"pid {os.getpid()}"):
            with Runner(toy_config(tmp_path / "work")) as runner:
                runner.train()
        assert not list((tmp_path / "work").glob("*.pth"))
    finally:
        holder.release()
    with Runner(toy_config(tmp_path / "work")) as runner:  # free again: trains
        runner.train()
    assert (tmp_path / "work" / "latest.pth").is_file()
    assert not (tmp_path / "work" / LOCK_NAME).exists()


def test_a_checkpoint_that_would_run_code_names_the_global_and_no_unsafe_advice(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"model": Payload()}, path)
    with pytest.raises(CheckpointError) as info:
        load_file(path)
    message = str(info.value)
    assert "would run code" in message and f"{os.system.__module__}.system" in message
    assert "weights_only" not in message and "truncated" not in message and "\n" not in message


def test_resume_from_a_checkpoint_of_another_model_lists_the_keys(tmp_path, toy_config, toy):
    with Runner(toy_config(tmp_path / "a")) as runner:
        runner.train()
    cfg = toy_config(tmp_path / "b", resume=str(tmp_path / "a"))  # a folder: its latest.pth
    cfg["model"] = {"type": "ToyDetector", "num_classes": 3}
    for key in ("train_dataloader", "val_dataloader"):  # data of the model's class count
        if key in cfg:
            cfg[key]["dataset"]["num_classes"] = 3
    with pytest.raises(CheckpointError) as info, Runner(cfg) as runner:
        runner.train()
    message = str(info.value)
    assert f"{tmp_path / 'a' / 'latest.pth'} does not fit the ToyDetector" in message
    assert "with another shape: " in message and "\n" not in message


def test_mismatch_message_counts_and_shows_the_first_keys():
    model = {f"w{i}": torch.zeros(2) for i in range(5)} | {"head": torch.zeros(3)}
    ckpt = {"w0": torch.zeros(2), "head": torch.zeros(4), "extra": torch.zeros(1)}
    message = mismatch_message("c.pth", "Net", model, ckpt, limit=2)
    assert "1 with another shape: head (checkpoint [4], model [3])" in message
    assert "4 missing: w1, w2, ..." in message and "1 unexpected: extra" in message
    assert mismatch_message("c.pth", "Net", model, model) is None


def test_resume_path_of_a_folder(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder without latest.pth and no .pth"):
        resolve_checkpoint_path(tmp_path)
    save_file({"x": 1}, tmp_path / "epoch_1.pth")
    with pytest.raises(CheckpointError, match=r"it has epoch_1.pth: name one"):
        resolve_checkpoint_path(tmp_path)
    save_file({"x": 1}, tmp_path / "latest.pth")
    assert resolve_checkpoint_path(tmp_path) == tmp_path / "latest.pth"
