"""RunnerView, the protocol hooks see: it resolves at run time, lists everything the
built-in hooks, the evaluator and the checkpointer read from the runner, and a Runner has
all of it; the checkpoint-after-validation order is enforced, not assumed."""

from __future__ import annotations

import ast
import inspect
import types
import typing

import pytest

import detplug_core
from detplug_core.errors import ConfigError
from detplug_core.runner import Runner, builtin_hooks, checkpointer, evaluation
from detplug_core.runner.builtin_hooks import ValidationHook
from detplug_core.runner.protocol import RunnerView


def _view_names() -> set[str]:
    names = set(typing.get_type_hints(RunnerView))
    return names | {n for n in vars(RunnerView) if not n.startswith("_")}


def _runner_attributes(module: types.ModuleType) -> set[str]:
    """Attributes read on ``runner``, ``r`` or ``self.runner`` in ``module``."""
    used = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("runner", "r"):
            used.add(node.attr)
        elif isinstance(owner, ast.Attribute) and owner.attr == "runner":
            if isinstance(owner.value, ast.Name) and owner.value.id == "self":
                used.add(node.attr)
    return used


def test_the_view_resolves_at_run_time_and_says_what_may_be_none():
    hints = typing.get_type_hints(detplug_core.RunnerView)
    assert hints["device"].__name__ == "device"
    for name in ("optimizer", "train_step", "train_settings"):
        assert type(None) in typing.get_args(hints[name]), name


@pytest.mark.parametrize("module", [builtin_hooks, evaluation, checkpointer])
def test_everything_the_core_reads_from_the_runner_is_in_the_view(module):
    missing = _runner_attributes(module) - _view_names()
    assert not missing, f"{module.__name__} reads runner attributes RunnerView lacks: {missing}"


def test_a_runner_has_every_attribute_of_the_view(tmp_path, toy_config, toy):
    with Runner(toy_config(tmp_path)) as runner:
        absent = [name for name in _view_names() if not hasattr(runner, name)]
    assert not absent


def test_a_checkpoint_hook_ordered_before_the_validation_hook_is_refused(tmp_path, toy_config, toy):
    cfg = toy_config(tmp_path, hooks=[{"type": ValidationHook}])  # LOWEST, after built-ins
    with pytest.raises(ConfigError, match="CheckpointHook .* would run before ValidationHook"):
        Runner(cfg)
    Runner(toy_config(tmp_path, hooks=[{"type": ValidationHook, "priority": 95}])).close()
