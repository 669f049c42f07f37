"""EMAHook: the average itself, evaluation on it, and an exact resume."""

from __future__ import annotations

import math
import os
import signal
from typing import Any

import pytest
import torch
from detplug_hooks import EMAHook
from torch import nn

from detplug_core import Hook, Runner
from detplug_core.errors import BuildError
from detplug_core.runner import TrainingInterrupted


def test_average_follows_the_formula_with_warmup_and_copies_int_buffers():
    model = nn.BatchNorm1d(2)
    hook = EMAHook(decay=0.9, warmup_iters=4)
    hook.update(model, 1)  # first call: initialise from the weights, then one update
    start = {k: v.clone() for k, v in hook.ema.items()}
    with torch.no_grad():
        model.weight.add_(1.0)
        model.num_batches_tracked.fill_(7)
    decay = 0.9 * (1 - math.exp(-1 / 4))
    assert hook.current_decay() == pytest.approx(decay)
    hook.update(model, 2)
    expected = start["weight"] * decay + model.weight.detach() * (1 - decay)
    torch.testing.assert_close(hook.ema["weight"], expected)
    assert hook.ema["num_batches_tracked"].item() == 7
    assert hook.updates == 2


def test_exp_momentum_warmup_is_mmdetections_exp_momentum_ema():
    """RTMDet's ExpMomentumEMA(momentum=m, gamma=g): step 0 copies, step k lerps towards
    the weights by (1 - m) exp(-(1 + k) / g) + m."""
    m, gamma = 0.1, 3
    model = nn.Linear(2, 2)
    hook = EMAHook(momentum=m, warmup_iters=gamma, warmup="exp_momentum")
    reference = None
    for step in range(5):
        with torch.no_grad():
            model.weight.add_(torch.randn(2, 2))
        hook.update(model, step + 1)
        weight = model.weight.detach()
        if reference is None:
            reference = weight.clone()
        else:
            lerp = (1 - m) * math.exp(-(1 + step) / gamma) + m
            reference = reference.lerp(weight, lerp)
        torch.testing.assert_close(hook.ema["weight"], reference)
    with pytest.raises(BuildError, match="warmup"):
        EMAHook(warmup="linear")


def test_before_begin_iter_the_average_is_a_copy():
    model = nn.Linear(2, 2)
    hook = EMAHook(momentum=0.5, begin_iter=3)
    assert hook.decay == 0.5
    for iteration in (1, 2, 3):
        with torch.no_grad():
            model.weight.mul_(2)
        hook.update(model, iteration)
        assert torch.equal(hook.ema["weight"], model.weight)
    assert hook.updates == 0


def test_validation_runs_on_the_average_and_the_weights_come_back(kit, tmp_path):
    hooks = [{"type": "EMAHook", "decay": 0.5}, {"type": "hookstest.ProbeHook"}]
    runner = kit.run_training(kit.tiny_config(tmp_path, hooks))
    ema, probe = kit.config_hook(runner, EMAHook), kit.config_hook(runner, kit.ProbeHook)
    assert len(probe.during) == 2  # validations after iterations 3 and 6
    for before, during, after in zip(probe.before, probe.during, probe.after, strict=True):
        assert not torch.equal(during["net.weight"], before["net.weight"])
        for key in before:
            assert torch.equal(after[key], before[key]), key
    # the last validation ran on the final average
    for key, value in ema.ema.items():
        assert torch.equal(probe.during[-1][key], value), key


def test_testing_a_checkpoint_evaluates_its_saved_average(kit, tmp_path):
    """`detplug test CKPT` (Runner.test with load_from) restores the hook states saved in
    the checkpoint, so the average is what gets evaluated, not the raw weights."""
    from detplug_core import Runner

    hooks = [{"type": "EMAHook", "decay": 0.5}, {"type": "hookstest.ProbeHook"}]
    trained = kit.run_training(kit.tiny_config(tmp_path / "train", hooks))
    average = kit.config_hook(trained, EMAHook).ema
    cfg = kit.tiny_config(tmp_path / "test", hooks)
    cfg["load_from"] = str(tmp_path / "train" / "latest.pth")
    with Runner(cfg) as runner:
        runner.test()
    probe = kit.config_hook(runner, kit.ProbeHook)
    assert len(probe.during_test) == 1
    assert any(not torch.equal(average[k], v) for k, v in trained.model.state_dict().items())
    for key, value in average.items():
        assert torch.equal(probe.during_test[0][key], value), key
    for key, value in trained.model.state_dict().items():  # and the raw weights come back
        assert torch.equal(runner.model.state_dict()[key], value), key


def test_resumed_run_has_bitwise_the_same_average_as_an_uninterrupted_one(kit, tmp_path):
    hooks = [{"type": "EMAHook", "decay": 0.8, "warmup_iters": 3}]
    whole = kit.run_training(kit.tiny_config(tmp_path / "whole", hooks))

    cut = kit.tiny_config(tmp_path / "cut", hooks, checkpoint={"interval": 2})
    kit.run_training({**cut, "hooks": [*hooks, {"type": "hookstest.StopAtHook", "iteration": 5}]})
    saved = torch.load(tmp_path / "cut" / "latest.pth", weights_only=True)
    assert saved["iter"] == 5 and saved["hooks"]["EMAHook"]["updates"] == 5
    resumed = kit.run_training({**cut, "resume": "auto"})

    a, b = kit.config_hook(whole, EMAHook), kit.config_hook(resumed, EMAHook)
    assert a.updates == b.updates == 6
    assert a.ema.keys() == b.ema.keys()
    for key in a.ema:
        assert torch.equal(a.ema[key], b.ema[key]), key
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_a_hook_added_before_a_resume_leaves_the_average_intact(kit, tmp_path):
    """Hook states are saved by name, not position: a hook listed before EMAHook on resume
    does not orphan its average."""
    ema = {"type": "EMAHook", "decay": 0.8, "warmup_iters": 3}
    whole = kit.run_training(kit.tiny_config(tmp_path / "whole", [ema]))

    cut = kit.tiny_config(tmp_path / "cut", [ema], checkpoint={"interval": 2})
    kit.run_training({**cut, "hooks": [ema, {"type": "hookstest.StopAtHook", "iteration": 4}]})
    added = [{"type": "hookstest.ProbeHook"}, {"type": "SpeedMonitorHook"}, ema]
    resumed = kit.run_training({**cut, "hooks": added, "resume": "auto"})

    a, b = kit.config_hook(whole, EMAHook), kit.config_hook(resumed, EMAHook)
    assert a.updates == b.updates == 6
    for key in a.ema:
        assert torch.equal(a.ema[key], b.ema[key]), key


def test_the_cached_pairs_follow_a_loaded_average_and_replaced_weights():
    model = nn.Linear(2, 2)
    hook = EMAHook(decay=0.5)
    hook.update(model, 1)
    # a resume loads another average: the next update folds into that one
    loaded = {k: torch.zeros_like(v) for k, v in hook.ema.items()}
    hook.load_state_dict({"updates": 1, "ema": loaded})
    hook.update(model, 2)
    torch.testing.assert_close(hook.ema["weight"], model.weight.detach() * 0.5)
    assert hook.ema["weight"] is loaded["weight"]
    # weights whose storage was replaced (``.data =``, as a memory-format change does)
    with torch.no_grad():
        model.weight.data = torch.full((2, 2), 4.0)
    before = hook.ema["weight"].clone()
    hook.update(model, 3)
    torch.testing.assert_close(hook.ema["weight"], before * 0.5 + 2.0)
    # another model of the same layout: its own weights, not the first one's
    other = nn.Linear(2, 2)
    before = hook.ema["weight"].clone()
    hook.update(other, 4)
    torch.testing.assert_close(hook.ema["weight"], (before + other.weight.detach()) * 0.5)


class SigtermInFirstValidation(Hook):
    """SIGTERM to this process at the first batch of the first validation."""

    def __init__(self) -> None:
        self.sent = False

    def after_val_iter(self, runner: Any) -> None:
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_during_validation_on_the_average_saves_the_trained_weights(kit, tmp_path):
    """The interrupted pass never reaches after_val_epoch: the average must still leave the
    model before the interrupt checkpoint stores ``model``."""
    hooks = [
        {"type": "EMAHook", "decay": 0.5},
        {"type": "hookstest.ProbeHook"},
        {"type": SigtermInFirstValidation},
    ]
    with Runner(kit.tiny_config(tmp_path, hooks)) as runner, pytest.raises(TrainingInterrupted):
        runner.train()
    saved = torch.load(tmp_path / "latest.pth", weights_only=True)
    probe = kit.config_hook(runner, kit.ProbeHook)
    assert saved["iter"] == 3 and saved["hooks"]["ValidationHook"] == {"pending": True}
    trained, average = probe.before[0], saved["hooks"]["EMAHook"]["ema"]
    assert any(not torch.equal(average[k], v) for k, v in trained.items())
    for key, value in trained.items():
        assert torch.equal(saved["model"][key], value), key
