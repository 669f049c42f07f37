"""CheckInvalidLossHook: a NaN loss stops the run, naming iteration and term, after saving."""

from __future__ import annotations

import math

import pytest
import torch
from detplug_hooks import CheckInvalidLossHook, InvalidLossError

from detplug_core.errors import DetplugError


def test_nan_loss_saves_a_checkpoint_and_stops_with_a_clear_message(kit, tmp_path):
    cfg = kit.tiny_config(tmp_path, [{"type": "CheckInvalidLossHook"}])
    cfg["model"]["nan_at"] = 3
    with pytest.raises(DetplugError) as info:
        kit.run_training(cfg)
    cause = info.value if isinstance(info.value, InvalidLossError) else info.value.__cause__
    assert isinstance(cause, InvalidLossError)
    message = str(info.value)
    assert "invalid loss at iteration 3 (epoch 1): loss_box = nan, loss = nan" in message
    saved = tmp_path / "invalid_loss_iter_3.pth"
    assert f"checkpoint saved to {saved}" in message
    checkpoint = torch.load(saved, weights_only=True)
    assert checkpoint["iter"] == 3
    assert not (tmp_path / "iter_6.pth").exists()  # training did not go on


def test_only_non_finite_terms_are_reported_terms_first():
    outputs = {
        "loss": torch.tensor(math.inf),
        "loss_cls": torch.tensor(1.0),
        "loss_box": torch.tensor(-math.inf),
    }
    assert CheckInvalidLossHook.invalid_terms(outputs) == [
        ("loss_box", -math.inf),
        ("loss", math.inf),
    ]
    assert CheckInvalidLossHook.invalid_terms({"loss": torch.tensor(0.5)}) == []


def test_the_finite_check_takes_tensors_and_floats():
    assert CheckInvalidLossHook.all_finite({"loss": torch.tensor(1.0), "loss_x": 2.0, "n": 3})
    assert not CheckInvalidLossHook.all_finite({"loss": torch.tensor(1.0), "loss_x": math.nan})
    assert CheckInvalidLossHook.all_finite({})
