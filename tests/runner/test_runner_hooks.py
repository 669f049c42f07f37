"""Hook calling order (priorities, config order, plugin hookimpls) and hook failures."""

from __future__ import annotations

import types

import pytest

from detplug_core import Hook, hookimpl
from detplug_core.errors import ConfigError
from detplug_core.runner import HookError, Runner
from detplug_core.runner.hook import PRIORITIES, get_priority

CALLS: list[str] = []


class Recorder(Hook):
    """Records ``<tag>:<stage>`` for a few stages."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def before_run(self, runner) -> None:
        CALLS.append(f"{self.tag}:before_run")

    def after_train_iter(self, runner, outputs) -> None:
        assert set(outputs) == {"loss_cls", "loss_bbox", "loss"}
        CALLS.append(f"{self.tag}:after_train_iter")


class HighRecorder(Recorder):
    priority = "HIGH"


def _plugin(tag: str, **opts) -> types.SimpleNamespace:
    @hookimpl(**opts)
    def before_run(runner) -> None:
        CALLS.append(f"{tag}:before_run")

    return types.SimpleNamespace(before_run=before_run)


def _short_run(toy_config, tmp_path, hooks: list) -> dict:
    return toy_config(
        tmp_path,
        hooks=hooks,
        val_dataloader=None,
        train={"by_epoch": False, "max_iters": 1, "log_interval": 1},
        checkpoint={"interval": 0, "save_last": False},
    )


def test_calling_order_priorities_config_order_then_plugins(
    tmp_path, toy_config, toy, detplug_plugin
):
    CALLS.clear()
    detplug_plugin.register(_plugin("plugin_a"), "plugin_a")
    detplug_plugin.register(_plugin("plugin_b"), "plugin_b")
    detplug_plugin.register(_plugin("plugin_first", tryfirst=True), "plugin_first")
    detplug_plugin.register(_plugin("plugin_last", trylast=True), "plugin_last")
    hooks = [
        {"type": Recorder, "tag": "normal_1"},
        {"type": Recorder, "tag": "lowest", "priority": "LOWEST"},
        {"type": HighRecorder, "tag": "high_by_class"},
        {"type": Recorder, "tag": "normal_2"},
        {"type": Recorder, "tag": "int_5", "priority": 5},
        {"type": HighRecorder, "tag": "very_low_by_config", "priority": "VERY_LOW"},
    ]
    with Runner(_short_run(toy_config, tmp_path, hooks)) as runner:
        runner.train()
        names = [type(h).__name__ for h in runner.hooks.hooks]
        assert names[:2] == ["LRSchedulerHook", "Recorder"]  # built-in HIGHEST, then int_5
    # One priority scale: tryfirst = 0, plain = 50, trylast = 100; ties in config order,
    # then plugin load order.
    before_run = [c.split(":")[0] for c in CALLS if c.endswith("before_run")]
    assert before_run == [
        "plugin_first",
        "int_5",
        "high_by_class",
        "normal_1",
        "normal_2",
        "plugin_a",
        "plugin_b",
        "very_low_by_config",
        "lowest",
        "plugin_last",
    ]
    iters = [c.split(":")[0] for c in CALLS if c.endswith("after_train_iter")]
    assert iters == [
        "int_5",
        "high_by_class",
        "normal_1",
        "normal_2",
        "very_low_by_config",
        "lowest",
    ]


def test_only_overridden_stages_are_registered(tmp_path, toy_config, toy):
    with Runner(_short_run(toy_config, tmp_path, [{"type": Recorder, "tag": "x"}])) as runner:
        assert runner.hooks.has("after_train_iter") and runner.hooks.has("before_run")
        assert not any("Recorder" in label for label in runner.hooks.labels("before_train_iter"))
        assert not runner.hooks.has("after_val_epoch")


def test_failing_config_hook_is_named_and_a_last_checkpoint_written(tmp_path, toy_config, toy):
    cfg = _short_run(toy_config, tmp_path, [{"type": "ToyFailingHook", "at_iter": 2}])
    cfg["train"]["max_iters"] = 4
    with Runner(cfg) as runner, pytest.raises(HookError) as info:
        runner.train()
    message = str(info.value)
    assert "hook stage 'after_train_iter' failed in config hook ToyFailingHook (hooks.0" in message
    assert "ValueError: the toy hook failed on purpose" in message
    assert "last checkpoint" in message and "iter_2.pth" in message
    from detplug_core.runner.checkpoint import load_file

    ckpt = load_file(tmp_path / "latest.pth")
    assert ckpt["iter"] == 2 and ckpt["epoch_iter"] == 2  # the failing iteration completed


def test_failing_plugin_hookimpl_is_named(tmp_path, toy_config, toy, detplug_plugin):
    def boom(runner) -> None:
        raise KeyError("nope")

    plugin = types.SimpleNamespace(before_train=hookimpl(boom))
    detplug_plugin.register(plugin, "exploding_plugin")
    with Runner(_short_run(toy_config, tmp_path, [])) as runner, pytest.raises(HookError) as info:
        runner.train()
    assert info.value.stage == "before_train"
    assert "plugin 'exploding_plugin' function" in str(info.value)
    assert "boom" in str(info.value)


def test_priority_names_and_errors():
    assert get_priority("highest") == 0 and get_priority("LOWEST") == 100
    assert PRIORITIES["NORMAL"] == get_priority(50)
    with pytest.raises(ConfigError, match="hooks.3.priority: unknown priority 'URGENT'"):
        get_priority("URGENT", "hooks.3.priority")
    with pytest.raises(ConfigError, match="0..100"):
        get_priority(101)


def test_misspelled_stage_and_bad_arguments_are_config_errors(tmp_path, toy_config, toy):
    class Typo(Hook):
        def after_train_iteration(self, runner) -> None: ...

    class BadArgs(Hook):
        def after_train_iter(self, runner, loss) -> None: ...

    with pytest.raises(
        ConfigError,
        match=r"hooks.0: Typo.after_train_iteration is not a "
        r"runner stage; did you mean 'after_train_iter'",
    ):
        Runner(_short_run(toy_config, tmp_path, [{"type": Typo}]))
    with pytest.raises(ConfigError, match="hooks.0: BadArgs cannot be used as a hook.*'loss'"):
        Runner(_short_run(toy_config, tmp_path, [{"type": BadArgs}]))
