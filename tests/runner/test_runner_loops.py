"""The Runner in process: both loop kinds, evaluation, logging files, stop, resume, AMP."""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch

from detplug_core import DATASETS, Hook
from detplug_core.errors import ConfigError
from detplug_core.runner import Runner
from detplug_core.runner.checkpoint import load_file

EVENTS: list = []


class Probe(Hook):
    """Records stages, the metrics given to after_val_epoch, and can request a stop."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.stop_at = stop_at

    def before_run(self, runner) -> None:
        for name in (
            "cfg",
            "model",
            "optimizer",
            "schedulers",
            "work_dir",
            "epoch",
            "iter",
            "max_epochs",
            "max_iters",
            "train_dataloader",
            "val_dataloader",
            "logger",
            "rank",
            "world_size",
            "device",
            "message",
        ):
            assert hasattr(runner, name), name
        EVENTS.append(("before_run", runner.iter))

    def after_train_iter(self, runner) -> None:
        if self.stop_at is not None and runner.iter == self.stop_at:
            runner.stop_training = True

    def after_val_epoch(self, runner, metrics) -> None:
        EVENTS.append(("after_val_epoch", runner.iter, dict(metrics)))

    def after_run(self, runner) -> None:
        EVENTS.append(("after_run", runner.iter))


class Recording:
    """A metric keeping what the runner hands it."""

    prefix = "rec"
    last = None

    def __init__(self, classes) -> None:
        self.classes = classes
        Recording.last = self

    def reset(self) -> None:
        self.preds, self.targets = [], []

    def update(self, preds, targets) -> None:
        self.preds += preds
        self.targets += targets

    def compute(self) -> dict:
        return {"images": len(self.preds)}


LINE = re.compile(
    r"^Epoch \[\d+\]\[\d+/3\]  lr: \d\.\d{3}e-\d\d, eta: \d+:\d\d:\d\d, time: "
    r"\d+\.\d{3}, data_time: \d+\.\d{3}, memory: 0, loss_cls: \d\.\d{4}, "
    r"loss_bbox: \d\.\d{4}, loss: \d\.\d{4}$"
)


def test_epoch_based_run_logs_evaluates_and_checkpoints(tmp_path, toy_config, toy, capsys):
    EVENTS.clear()
    cfg = toy_config(tmp_path, hooks=[{"type": Probe}])
    with Runner(cfg) as runner:
        metrics = runner.train()
        assert (runner.epoch, runner.iter, runner.max_iters) == (2, 6, 6)
    assert set(metrics) == {"toy/recall", "toy/precision", "toy/num_images"}
    vals = [e for e in EVENTS if e[0] == "after_val_epoch"]
    assert [(v[1], v[2]["toy/num_images"]) for v in vals] == [(3, 6.0), (6, 6.0)]
    assert EVENTS[0] == ("before_run", 0) and EVENTS[-1] == ("after_run", 6)
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if x.startswith("Epoch [")]
    assert len(lines) == 6 and all(LINE.match(x) for x in lines), lines
    assert "Epoch(val) [1][2]  toy/recall: " in out
    log = (tmp_path / "log.txt").read_text()
    assert all(x in log for x in lines)
    records = [json.loads(x) for x in (tmp_path / "scalars.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert {
        "mode",
        "epoch",
        "iter",
        "lr",
        "time",
        "data_time",
        "memory",
        "loss_cls",
        "loss_bbox",
        "loss",
    } == set(records[0])
    evals = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(e["epoch"], e["iter"]) for e in evals] == [(1, 3), (2, 6)]
    assert all(e["eval_time"] > 0 for e in evals)  # seconds of each evaluation
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "toy/recall" in rows[0]
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == [
        "epoch_1.pth",
        "epoch_2.pth",
        "latest.pth",
    ]


def test_iteration_based_run_validates_and_saves_by_iteration(tmp_path, toy_config, toy):
    EVENTS.clear()
    cfg = toy_config(
        tmp_path,
        hooks=[{"type": Probe}],
        train={"by_epoch": False, "max_iters": 7, "val_interval": 3, "log_interval": 2},
        checkpoint={"interval": 2, "keep_last": None},
    )
    with Runner(cfg) as runner:
        runner.train()
        assert runner.max_epochs is None and runner.epoch == 2 and runner.epoch_iter == 1
    assert [e[1] for e in EVENTS if e[0] == "after_val_epoch"] == [3, 6, 7]
    assert sorted(p.name for p in tmp_path.glob("iter_*.pth")) == [
        "iter_2.pth",
        "iter_4.pth",
        "iter_6.pth",
        "iter_7.pth",
    ]
    lines = (tmp_path / "log.txt").read_text()
    assert "Iter [2/7]  lr: 5.000e-02, eta: " in lines and "Iter(val) [3]  toy/recall" in lines


def test_evaluation_rescales_boxes_to_the_original_image_size(tmp_path, toy_config, toy):
    val = {
        "batch_size": 3,
        "dataset": {
            "type": "ToyShapes",
            "num_images": 3,
            "transforms": [{"type": "ToyResize", "scale": 2.0}],
        },
    }
    cfg = toy_config(tmp_path, val_dataloader=val, metrics=[{"type": Recording}])
    with Runner(cfg) as runner:
        assert runner.val() == {"rec/images": 3.0}
        metric = Recording.last
        raw = DATASETS.build({"type": "ToyShapes", "num_images": 3})
        for i in range(3):
            assert torch.allclose(metric.targets[i]["boxes"], raw[i][1]["boxes"])
        big = DATASETS.build(val["dataset"])
        runner.model.eval()
        with torch.no_grad():
            direct = runner.model([big[0][0]])[0]
        assert torch.allclose(metric.preds[0]["boxes"], direct["boxes"] / 2)
        assert metric.preds[0]["boxes"].device.type == "cpu"
        metric.preds[0]["boxes"] += 1  # metrics may modify what they get (no inference tensors)


def test_stop_training_then_resume_mid_epoch_is_exact(tmp_path, toy_config, toy):
    """Epoch-based, random flips in the main process: stopping inside epoch 2 and resuming
    gives the weights of the uninterrupted run, bit for bit."""
    full = toy_config(tmp_path / "full")
    with Runner(full) as runner:
        runner.train()
    cfg = toy_config(
        tmp_path / "parts",
        hooks=[{"type": Probe, "stop_at": 4}],
        checkpoint={"interval": 1, "keep_last": 3},
    )
    EVENTS.clear()
    with Runner(cfg) as runner:
        runner.train()
        assert runner.iter == 4 and runner.epoch_iter == 1
    assert EVENTS[-1] == ("after_run", 4)
    assert load_file(tmp_path / "parts" / "latest.pth")["iter"] == 4
    cfg["hooks"], cfg["resume"] = [], "auto"
    with Runner(cfg) as runner:
        runner.train()
    a = load_file(tmp_path / "full" / "latest.pth")
    b = load_file(tmp_path / "parts" / "latest.pth")
    assert a["iter"] == b["iter"] == 6
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["optimizer"]["state"][0]["momentum_buffer"].equal(
        b["optimizer"]["state"][0]["momentum_buffer"]
    )


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_and_gradient_clipping(tmp_path, toy_config, toy, amp):
    cfg = toy_config(
        tmp_path,
        amp=amp,
        clip_grad={"max_norm": 0.5},
        val_dataloader=None,
        train={"by_epoch": False, "max_iters": 2, "log_interval": 1},
        checkpoint={"interval": 0, "save_last": True},
    )
    with Runner(cfg) as runner:
        runner.train()
        assert (runner.train_step.scaler is not None) == (amp == "fp16")
    records = [json.loads(x) for x in (tmp_path / "scalars.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    assert "grad_norm" in records[0] and list(records[0])[-1] == "grad_norm"
    assert (load_file(tmp_path / "latest.pth")["scaler"] is not None) == (amp == "fp16")


def test_load_from_reports_and_config_errors(tmp_path, toy_config, toy, capsys):
    cfg = toy_config(tmp_path / "a", train={"by_epoch": False, "max_iters": 1})
    with Runner(cfg) as runner:
        runner.train()
    other = toy_config(
        tmp_path / "b",
        model={"type": "ToyDetector", "num_classes": 3},
        val_dataloader={  # the model's class count must match the data's (num_classes check)
            "batch_size": 4,
            "dataset": {"type": "ToyShapes", "num_images": 6, "seed": 1, "num_classes": 3},
        },
        load_from=str(tmp_path / "a" / "latest.pth"),
        tpyo=1,
    )
    with Runner(other) as runner:
        runner.test()
    out = capsys.readouterr().out
    assert "top-level config key 'tpyo' is not read by the runner" in out
    assert "cls  " in out and "class count differs: checkpoint 2, model 3" in out
    with pytest.raises(ConfigError, match="train.max_epochs: epoch-based training needs"):
        with Runner(toy_config(tmp_path / "c", train={"by_epoch": True})) as runner:
            runner.train()
    with pytest.raises(ConfigError, match=r"train.max_iter: unknown option; did you mean"):
        with Runner(toy_config(tmp_path / "c", train={"max_iter": 3})) as runner:
            runner.train()


class BarProbe(Hook):
    def after_val(self, runner) -> None:
        EVENTS.append(("train bar after val", runner.log._bar is not None))


def test_progress_bar_on_a_terminal_keeps_lines_in_the_log_file(
    tmp_path, toy_config, toy, capsys, monkeypatch
):
    monkeypatch.setenv("DETPLUG_PROGRESS", "bar")  # as if stdout were a TTY
    EVENTS.clear()
    cfg = toy_config(
        tmp_path,
        train={"by_epoch": False, "max_iters": 4, "log_interval": 1, "val_interval": 2},
        checkpoint={"interval": 0},
        hooks=[{"type": BarProbe}],
    )
    with Runner(cfg) as runner:
        runner.train()
    out = capsys.readouterr().out
    assert "\rtrain:   0%|" in out and "/4 [" in out and "\rval:   0%|" in out  # tqdm bars
    assert EVENTS == [("train bar after val", True)] * 2  # validation keeps the train bar
    assert "Iter [1/4]" not in out  # training lines go to log.txt only
    assert "Iter [1/4]  lr: " in (tmp_path / "log.txt").read_text()
    assert "Iter(val) [2]" in out  # evaluation results are still printed
