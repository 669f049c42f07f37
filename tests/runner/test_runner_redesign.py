"""The loop's contracts: the gradient stage, stable hook-state names, built-in hooks,
signals during validation, one history after a resume, messages logged once."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from detplug_core import Hook
from detplug_core.errors import CheckpointError
from detplug_core.hookspecs import RUNNER_STAGES
from detplug_core.runner import Runner, TrainingInterrupted
from detplug_core.runner.checkpoint import load_file
from detplug_core.runner.checkpointer import _legacy_hook_names

ORDER: list[str] = []


class GradientProbe(Hook):
    """Reads the gradients in ``after_backward`` and (optionally) zeroes them."""

    def __init__(self, zero: bool = False) -> None:
        self.zero = zero
        self.norms: list[float] = []

    def before_train_iter(self, runner) -> None:
        ORDER.append("before_train_iter")

    def after_backward(self, runner, outputs) -> None:
        ORDER.append("after_backward")
        assert set(outputs) == {"loss_cls", "loss_bbox", "loss"}
        grads = [p.grad for p in runner.model.parameters() if p.grad is not None]
        self.norms.append(float(torch.stack([g.norm() for g in grads]).norm()))
        if self.zero:
            for g in grads:
                g.zero_()

    def after_train_iter(self, runner) -> None:
        ORDER.append("after_train_iter")


def _iter_config(toy_config, tmp_path, **changes):
    cfg = toy_config(
        tmp_path,
        train={"by_epoch": False, "max_iters": 4, "val_interval": 2, "log_interval": 1},
        checkpoint={"interval": 2, "keep_last": None},
    )
    cfg.update(changes)
    return cfg


def test_gradient_stage_sees_nonzero_gradients_and_can_change_them(tmp_path, toy_config, toy):
    assert RUNNER_STAGES.index("after_backward") == RUNNER_STAGES.index("after_train_iter") - 1
    sgd = {"type": "SGD", "lr": 0.05}  # no momentum/decay: zero gradients move nothing
    cfg = _iter_config(toy_config, tmp_path, optimizer=sgd, val_dataloader=None)
    cfg["hooks"] = [{"type": GradientProbe, "zero": True}]
    cfg["clip_grad"] = {"max_norm": 1.0}
    ORDER.clear()
    with Runner(cfg) as runner:
        before = {k: v.clone() for k, v in runner.model.state_dict().items()}
        runner.train()
        probe = next(h for h in runner.hooks.hooks if isinstance(h, GradientProbe))
        after = runner.model.state_dict()
    assert len(probe.norms) == 4 and all(n > 0 for n in probe.norms)
    assert ORDER[:3] == ["before_train_iter", "after_backward", "after_train_iter"]
    for key, value in before.items():  # zeroed before clipping and the step: unchanged
        assert torch.equal(value, after[key]), key
    grad_norms = [r["grad_norm"] for r in map(json.loads, (tmp_path / "scalars.jsonl").open()) if r]
    assert grad_norms == [0.0] * 4  # clipping ran after the hook


def test_the_gradient_stage_costs_nothing_when_unused(tmp_path, toy_config, toy):
    with Runner(_iter_config(toy_config, tmp_path)) as runner:
        runner.train()
        assert not runner.hooks.has("after_backward")
        assert runner.train_step.on_gradients is None


class ToyStopHook(Hook):
    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def after_train_iter(self, runner) -> None:
        if runner.iter == self.at_iter:
            runner.stop_training = True


class Stateless(Hook):
    def before_run(self, runner) -> None:
        pass


def test_adding_a_hook_before_a_resume_keeps_every_state(tmp_path, toy_config, toy):
    counter = {"type": "ToyCounterHook"}
    base = _iter_config(toy_config, tmp_path, val_dataloader=None)
    with Runner({**base, "hooks": [counter, {"type": ToyStopHook, "at_iter": 2}]}) as r:
        r.train()
    assert load_file(tmp_path / "latest.pth")["hooks"]["ToyCounterHook"] == {"count": 2}
    hooks = [{"type": Stateless}, {"type": "ToyCounterHook", "priority": "HIGHEST"}, counter]
    with Runner({**base, "hooks": hooks, "resume": "auto"}) as runner:
        runner.train()
        counters = [h for h in runner.hooks.hooks if type(h).__name__ == "ToyCounterHook"]
    names = [runner.hooks.state_names[id(h)] for h in counters]
    assert sorted(names) == ["ToyCounterHook", "ToyCounterHook.1"]
    by_name = dict(zip(names, counters, strict=True))
    assert by_name["ToyCounterHook"].count == 4  # the saved 2, then 2 more
    assert by_name["ToyCounterHook.1"].count == 2  # new: starts fresh


def test_an_orphaned_hook_state_is_an_error_unless_allowed(tmp_path, toy_config, toy):
    base = _iter_config(toy_config, tmp_path, val_dataloader=None)
    with Runner({**base, "hooks": [{"type": "ToyCounterHook", "name": "mine"}, _stop(2)]}) as r:
        r.train()
    assert "ToyCounterHook:mine" in load_file(tmp_path / "latest.pth")["hooks"]
    with (
        Runner({**base, "hooks": [], "resume": "auto"}) as runner,
        pytest.raises(CheckpointError, match=r"hook\(s\) ToyCounterHook:mine .*--resume-allow"),
    ):
        runner.train()
    with Runner({**base, "hooks": [], "resume": "auto", "resume_allow_orphans": True}) as runner:
        runner.train()
        assert runner.iter == 4
    assert (
        "dropping the saved state of hook(s) ToyCounterHook:mine"
        in (tmp_path / "log.txt").read_text()
    )


def _stop(n: int) -> dict:
    return {"type": ToyStopHook, "at_iter": n}


def test_legacy_positional_hook_keys_map_onto_stable_names():
    legacy = {"hooks.0.EMAHook": {"a": 1}, "hooks.2.Counter": {"b": 2}, "hooks.3.Counter": {}}
    assert _legacy_hook_names(legacy) == {
        "EMAHook": {"a": 1},
        "Counter": {"b": 2},
        "Counter.1": {},
    }


class SignalDuringVal(Hook):
    """Sends SIGTERM to this process during the first validation pass it sees."""

    sent = False

    def after_val_iter(self, runner) -> None:
        if not SignalDuringVal.sent:
            SignalDuringVal.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_validation_cut_by_a_signal_runs_after_resume(tmp_path, toy_config, toy):
    SignalDuringVal.sent = False
    cfg = _iter_config(toy_config, tmp_path, hooks=[{"type": SignalDuringVal}])
    cfg["checkpoint"] = {"interval": 2, "save_best": "toy/recall"}
    with Runner(cfg) as runner, pytest.raises(TrainingInterrupted):
        runner.train()
    assert not (tmp_path / "metrics.jsonl").exists()
    ckpt = load_file(tmp_path / "latest.pth")
    assert ckpt["iter"] == 2 and ckpt["hooks"]["ValidationHook"] == {"pending": True}
    with Runner({**cfg, "resume": "auto"}) as runner:
        runner.train()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
    assert [r["iter"] for r in records] == [2, 4]  # the interrupted one is not lost
    assert (tmp_path / "best_toy_recall.pth").is_file()


def test_after_a_resume_the_log_files_hold_one_history(tmp_path, toy_config, toy):
    cfg = _iter_config(toy_config, tmp_path)
    with Runner(cfg) as runner:
        runner.train()
    # go back to iteration 2 (as after kill -9 once iterations 3 and 4 were logged)
    with Runner({**cfg, "resume": str(tmp_path / "iter_2.pth")}) as runner:
        runner.train()
    scalars = [json.loads(line)["iter"] for line in (tmp_path / "scalars.jsonl").open()]
    assert scalars == [1, 2, 3, 4]
    metrics = [json.loads(line)["iter"] for line in (tmp_path / "metrics.jsonl").open()]
    assert metrics == [2, 4]


class OnceMessage(Hook):
    def after_train_iter(self, runner) -> None:
        if runner.iter == 1:
            runner.message["probe/once"] = 7.0


def test_a_message_value_is_logged_once(tmp_path, toy_config, toy):
    cfg = _iter_config(toy_config, tmp_path, val_dataloader=None)
    cfg["hooks"] = [{"type": OnceMessage}]
    with Runner(cfg) as runner:
        runner.train()
    records = [json.loads(line) for line in (tmp_path / "scalars.jsonl").open()]
    assert [r.get("probe/once") for r in records] == [7.0, None, None, None]


def test_a_config_entry_replaces_a_built_in_hook(tmp_path, toy_config, toy):
    from detplug_core.runner.builtin_hooks import LoggerHook

    class QuietLogger(LoggerHook):
        def log(self, runner) -> None:
            self.meter.summary()

    cfg = _iter_config(toy_config, tmp_path, val_dataloader=None)
    cfg["hooks"] = [{"type": QuietLogger}]
    with Runner(cfg) as runner:
        runner.train()
        loggers = [h for h in runner.hooks.hooks if isinstance(h, LoggerHook)]
    assert len(loggers) == 1 and type(loggers[0]) is QuietLogger
    assert not (tmp_path / "scalars.jsonl").exists()


def test_a_second_ctrl_c_during_the_interrupt_save_exits_130(detplug_plugin, tmp_path):
    """The first SIGINT is the runner's (save, then exit 130); the guard then restores
    Python's handler, so a second one raises KeyboardInterrupt wherever the save is."""
    import click
    from click.testing import CliRunner

    from detplug_core import hookimpl
    from detplug_core.cli.main import cli

    @click.command("interrupted-save")
    def interrupted_save() -> None:
        raise KeyboardInterrupt

    class Plugin:
        @hookimpl
        def detplug_cli_commands(self):
            return [interrupted_save]

    detplug_plugin.register(Plugin(), "ctrl_c")
    result = CliRunner().invoke(cli, ["interrupted-save"])
    assert result.exit_code == 130
    assert "Aborted!" not in result.output
    assert "interrupted (Ctrl-C)" in result.output


def test_a_run_says_which_installed_plugin_failed_to_load(tmp_path, toy_config, toy):
    from detplug_core.plugins.state import PluginRecord, records, set_records

    before = records()
    broken = PluginRecord("broken", "detplug-broken", "0.0.9", "detplug_broken")
    broken.status, broken.error = "failed", "ImportError: No module named 'missing_dep'"
    set_records([*before, broken])
    try:
        with Runner(_iter_config(toy_config, tmp_path, val_dataloader=None)):
            pass
    finally:
        set_records(before)
    assert (
        "plugin 'broken' (detplug-broken 0.0.9) failed to load, its components are "
        "unavailable: ImportError: No module named 'missing_dep'"
    ) in (tmp_path / "log.txt").read_text()
