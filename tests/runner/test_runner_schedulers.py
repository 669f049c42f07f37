"""Learning-rate schedules: the documented formulas, chaining, and what a run really uses."""

from __future__ import annotations

import math

import pytest
import torch

from detplug_core import Hook
from detplug_core.errors import ConfigError, DetplugError
from detplug_core.runner import Runner
from detplug_core.runner.schedulers import build_schedule

LRS: list[tuple[int, int, float]] = []


class LrRecorder(Hook):
    def before_train_iter(self, runner) -> None:
        LRS.append((runner.epoch, runner.iter, runner.optimizer.param_groups[0]["lr"]))


def _optimizer(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _lrs(cfgs, steps, *, by_epoch_steps=False, max_epochs=None, max_iters=None):
    opt = _optimizer()
    schedule = build_schedule(opt, cfgs, max_epochs=max_epochs, max_iters=max_iters)
    out = []
    for s in range(steps):
        schedule.apply(iteration=0 if by_epoch_steps else s, epoch=s if by_epoch_steps else 0)
        out.append(opt.param_groups[0]["lr"])
    return out


def test_linear_warmup_by_iteration():
    lrs = _lrs([{"type": "LinearWarmup", "start_factor": 0.1, "end": 4}], 6)
    expected = [0.1 * (0.1 + 0.9 * min(i, 4) / 4) for i in range(6)]
    assert lrs == pytest.approx(expected, rel=1e-12)


def test_multistep_by_epoch_matches_torch():
    ours = _lrs([{"type": "MultiStep", "milestones": [2, 4], "gamma": 0.5}], 6, by_epoch_steps=True)
    opt = _optimizer()
    torch_sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.5)
    theirs = []
    for _ in range(6):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        torch_sched.step()
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_step_exponential_poly_constant():
    assert _lrs([{"type": "Step", "step_size": 2, "gamma": 0.1}], 5, by_epoch_steps=True) == (
        pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    )
    assert _lrs([{"type": "Exponential", "gamma": 0.5}], 3, by_epoch_steps=True) == (
        pytest.approx([0.1, 0.05, 0.025])
    )
    poly = _lrs([{"type": "Poly", "power": 2.0, "end": 4, "by_epoch": False}], 6)
    assert poly == pytest.approx([0.1 * (1 - min(i, 4) / 4) ** 2 for i in range(6)])
    const = _lrs([{"type": "ConstantLR", "factor": 0.5, "end": 2}], 4)
    assert const == pytest.approx([0.05, 0.05, 0.1, 0.1])


def test_cosine_defaults_to_run_end_and_matches_closed_form():
    lrs = _lrs([{"type": "Cosine", "eta_min_ratio": 0.1}], 12, by_epoch_steps=True, max_epochs=10)
    expected = [
        0.1 * (0.1 + 0.9 * (1 + math.cos(math.pi * min(e, 10) / 10)) / 2) for e in range(12)
    ]
    assert lrs == pytest.approx(expected, rel=1e-12)


def test_scheduler_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"param_schedulers.0.end: needed here"):
        build_schedule(_optimizer(), [{"type": "Cosine"}], max_epochs=None, max_iters=10)
    with pytest.raises(DetplugError, match=r"param_schedulers.1.milestons: .*did you mean"):
        build_schedule(
            _optimizer(),
            [
                {"type": "LinearWarmup", "end": 3, "by_epoch": False},
                {"type": "MultiStep", "milestons": [1]},
            ],
            max_epochs=3,
            max_iters=30,
        )


def test_chained_warmup_and_multistep_in_an_epoch_based_run(tmp_path, toy_config, toy):
    """12 images, batch 4: 3 iterations per epoch, 3 epochs. lr of each iteration is
    base * warmup(iter) * gamma ** (milestones passed by the epoch)."""
    LRS.clear()
    cfg = toy_config(
        tmp_path,
        val_dataloader=None,
        hooks=[{"type": LrRecorder}],
        train={"by_epoch": True, "max_epochs": 3, "log_interval": 3},
        checkpoint={"interval": 0, "save_last": False},
        param_schedulers=[
            {"type": "LinearWarmup", "start_factor": 0.2, "end": 4, "by_epoch": False},
            {"type": "MultiStep", "milestones": [1, 2], "gamma": 0.1, "by_epoch": True},
        ],
    )
    with Runner(cfg) as runner:
        runner.train()
    assert [(e, i) for e, i, _ in LRS] == [(i // 3, i) for i in range(9)]
    for epoch, it, lr in LRS:
        warm = 0.2 + 0.8 * min(it, 4) / 4
        assert lr == pytest.approx(0.05 * warm * 0.1 ** min(epoch, 2), rel=1e-12), (epoch, it)
    import json

    logged = [json.loads(x)["lr"] for x in (tmp_path / "scalars.jsonl").read_text().splitlines()]
    assert logged == [LRS[2][2], LRS[5][2], LRS[8][2]]  # the lr of each logged iteration


def test_cosine_by_iteration_in_an_iteration_based_run(tmp_path, toy_config, toy):
    LRS.clear()
    cfg = toy_config(
        tmp_path,
        val_dataloader=None,
        hooks=[{"type": LrRecorder}],
        train={"by_epoch": False, "max_iters": 7, "log_interval": 7},
        checkpoint={"interval": 0, "save_last": False},
        param_schedulers=[{"type": "Cosine", "by_epoch": False}],
    )
    with Runner(cfg) as runner:
        runner.train()
    assert [i for _, i, _ in LRS] == list(range(7))
    for _, it, lr in LRS:
        assert lr == pytest.approx(0.05 * (1 + math.cos(math.pi * it / 7)) / 2, abs=1e-15)
