"""``runner.message``: numbers and one-element tensors are logged; anything else, and the
log line's own keys, are refused naming the key and the hook."""

from __future__ import annotations

import json

import pytest
import torch

from detplug_core import Hook
from detplug_core.runner import HookError, Runner
from detplug_core.runner.message import Message, MessageError


def test_message_accepts_numbers_and_one_element_tensors_and_refuses_the_rest():
    message = Message()
    message["hook/int"] = 3
    message["hook/tensor"] = torch.tensor(0.5)
    message.update({"hook/float": 1.5})
    assert message.setdefault("hook/other", 2.0) == 2.0
    for value, shown in (("fast", "str 'fast'"), (torch.ones(3), "Tensor"), (True, "bool")):
        with pytest.raises(MessageError, match=rf"runner.message\['hook/x'\]: .*{shown}"):
            message["hook/x"] = value
    for key in ("loss", "lr", "grad_norm"):
        with pytest.raises(MessageError, match=f"'{key}' is written by the runner's log line"):
            message.update({key: 1.0})
    assert "hook/x" not in message and "loss" not in message


class TensorMessage(Hook):
    def after_train_iter(self, runner) -> None:
        runner.message["probe/tensor"] = torch.tensor([float(runner.iter)])


class LossMessage(Hook):
    def after_train_iter(self, runner) -> None:
        runner.message["loss"] = 0.0


def _config(toy_config, tmp_path, hook):
    return toy_config(
        tmp_path,
        train={"by_epoch": False, "max_iters": 2, "log_interval": 1},
        val_dataloader=None,
        hooks=[{"type": hook}],
    )


def test_a_tensor_in_the_message_is_logged(tmp_path, toy_config, toy):
    with Runner(_config(toy_config, tmp_path, TensorMessage)) as runner:
        runner.train()
    records = [json.loads(line) for line in (tmp_path / "scalars.jsonl").open()]
    assert [r["probe/tensor"] for r in records] == [1.0, 2.0]


def test_a_hook_writing_the_total_loss_is_stopped_naming_it(tmp_path, toy_config, toy):
    with Runner(_config(toy_config, tmp_path, LossMessage)) as runner:
        with pytest.raises(HookError, match=r"LossMessage.*runner.message\['loss'\]"):
            runner.train()
