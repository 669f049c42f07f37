"""Signals and the loop: a validation due in the iteration a signal ends is run after the
resume, and the ranks agree on signals once per iteration (one all-reduce under DDP)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from detplug_core import Hook
from detplug_core.runner import Runner, TrainingInterrupted, dist_signals
from detplug_core.runner.checkpoint import load_file


def _iter_config(toy_config, tmp_path, **changes):
    cfg = toy_config(
        tmp_path,
        train={"by_epoch": False, "max_iters": 4, "val_interval": 2, "log_interval": 1},
        checkpoint={"interval": 2, "keep_last": None},
    )
    cfg.update(changes)
    return cfg


class SignalInStep(Hook):
    """SIGTERM to this process inside the training step of the second iteration (after
    backward), where a validation is due once the step ends."""

    def after_backward(self, runner) -> None:
        if runner.iter == 1:  # 0-based inside the step: the second iteration
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_in_the_step_of_a_validation_iteration_keeps_that_validation(
    tmp_path, toy_config, toy
):
    cfg = _iter_config(toy_config, tmp_path, hooks=[{"type": SignalInStep}])
    with Runner(cfg) as runner, pytest.raises(TrainingInterrupted):
        runner.train()
    ckpt = load_file(tmp_path / "latest.pth")
    assert ckpt["iter"] == 2 and ckpt["hooks"]["ValidationHook"] == {"pending": True}
    with Runner({**cfg, "resume": "auto"}) as runner:
        runner.train()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
    assert [r["iter"] for r in records] == [2, 4]


def test_the_ranks_agree_on_signals_once_per_iteration(tmp_path, toy_config, toy, monkeypatch):
    """The agreement is an all-reduce under DDP: once per iteration, as documented (the
    evaluation pass adds its own one)."""
    calls: list[int] = []
    real = dist_signals.agree_on_signal

    def counted(signum, device):
        calls.append(signum)
        return real(signum, device)

    monkeypatch.setattr(dist_signals, "agree_on_signal", counted)
    cfg = _iter_config(toy_config, tmp_path, val_dataloader=None)
    with Runner(cfg) as runner:
        runner.train()
    assert len(calls) == 4
