"""PipelineSwitchHook in real runs: the switch reaches persistent DataLoader workers at the
epoch it names, and a run resumed across the switch is bitwise the uninterrupted run."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision import PipelineSwitchHook

from detplug_core import HOOKS
from detplug_core.errors import BuildError


@pytest.fixture
def kit(detplug_plugin):
    return detplug_plugin.load_module("mix_testkit")


def dtypes_by_epoch(probe) -> dict[int, set]:
    """Epoch -> the image dtypes seen: float32 in stage 0, float64 in stage 1 (every
    sample of a pass, prefetched ones included)."""
    out: dict[int, set] = {}
    for epoch, _, images in probe.seen:
        out.setdefault(epoch, set()).update(dtype for _, dtype in images)
    return out


@pytest.mark.slow
def test_switch_reaches_persistent_workers_at_the_last_epochs(kit, tmp_path):
    runner = kit.run_training(kit.tiny_config(tmp_path, [{"type": "mixtest.ShapeProbe"}]))
    probe = kit.config_hook(runner, kit.ShapeProbe)
    assert dtypes_by_epoch(probe) == {
        0: {"torch.float32"},
        1: {"torch.float32"},
        2: {"torch.float64"},
    }
    sizes = {shape for epoch, _, images in probe.seen for shape, _ in images if epoch < 2}
    assert sizes == {(3, 16, 16)}  # mosaic, cropped and padded
    assert runner.train_dataloader.persistent_workers


@pytest.mark.slow
@pytest.mark.parametrize("stop_at", [5, 10])  # before the switch (epoch 1), after (epoch 2)
def test_resume_across_the_switch_is_bitwise_the_uninterrupted_run(kit, tmp_path, stop_at):
    pytest.importorskip("detplug_hooks")  # with RTMDet's EMA of the weights
    ema = {"type": "EMAHook", "momentum": 0.1, "warmup_iters": 4, "warmup": "exp_momentum"}
    probe = [{"type": "mixtest.ShapeProbe"}, ema]
    whole = kit.run_training(kit.tiny_config(tmp_path / "whole", probe))

    cut = kit.tiny_config(tmp_path / "cut", probe, checkpoint={"interval": 1, "by_epoch": False})
    kit.run_training(
        {**cut, "hooks": [*cut["hooks"], {"type": "mixtest.StopAt", "iteration": stop_at}]}
    )
    saved = torch.load(tmp_path / "cut" / "latest.pth", weights_only=True)
    assert saved["iter"] == stop_at
    resumed = kit.run_training({**cut, "resume": "auto"})

    assert resumed.iter == whole.iter == 12
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    a = kit.config_hook(whole, kit.ShapeProbe).seen
    b = kit.config_hook(resumed, kit.ShapeProbe).seen
    assert b == a[stop_at:]  # same batches (shapes, stages) at the same iterations
    from detplug_hooks import EMAHook

    ema_a, ema_b = kit.config_hook(whole, EMAHook), kit.config_hook(resumed, EMAHook)
    assert ema_a.updates == ema_b.updates == 12
    for key, value in ema_a.ema.items():
        assert torch.equal(value, ema_b.ema[key]), key


def test_arguments_are_checked(kit, tmp_path):
    with pytest.raises(BuildError, match="exactly one"):
        PipelineSwitchHook(last_epochs=2, at_epoch=3)
    with pytest.raises(BuildError, match="non-negative"):
        PipelineSwitchHook(at_iter=-1)
    assert HOOKS.get("torchvision.PipelineSwitchHook") is PipelineSwitchHook


def test_a_run_without_a_switchable_dataset_is_refused(kit, tmp_path):
    cfg = kit.tiny_config(tmp_path, [])
    cfg["train_dataloader"] = {
        "batch_size": 2,
        "dataset": {"type": "mixtest.PaintedDataset", "transforms": [{"type": "ToFloatImage"}]},
    }
    with pytest.raises(Exception, match="no MultiImageMixDataset"):
        kit.run_training(cfg)


def test_iteration_based_switch_takes_effect_at_the_first_pass_from_at_iter(kit, tmp_path):
    cfg = kit.tiny_config(
        tmp_path, [], train={"by_epoch": False, "max_iters": 10, "log_interval": 100}
    )
    cfg["hooks"] = [{"type": "PipelineSwitchHook", "at_iter": 5}, {"type": "mixtest.ShapeProbe"}]
    cfg["train_dataloader"] = {**cfg["train_dataloader"], "num_workers": 0}
    runner = kit.run_training(cfg)
    seen = kit.config_hook(runner, kit.ShapeProbe).seen
    switched = [{dtype for _, dtype in images} == {"torch.float64"} for _, _, images in seen]
    assert switched == [False] * 8 + [True] * 2  # passes of 4 batches: the third switches
