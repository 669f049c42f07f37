"""EarlyStoppingHook stops at the right evaluation."""

from __future__ import annotations

import json

import pytest
from detplug_hooks import EarlyStoppingHook

from detplug_core.errors import DetplugError


def epoch_config(kit, tmp_path, values, **stopper):
    """Epoch-based: 2 iterations per epoch, validation after every epoch, 10 epochs."""
    hooks = [{"type": "EarlyStoppingHook", "monitor": "seq/mAP", **stopper}]
    cfg = kit.tiny_config(
        tmp_path,
        hooks,
        train={"by_epoch": True, "max_epochs": 10, "val_interval": 1, "log_interval": 1},
        metrics=[{"type": "hookstest.SequenceMetric", "values": values}],
    )
    cfg["train_dataloader"]["dataset"]["num_images"] = 4
    return cfg


def evaluations(work_dir):
    lines = (work_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["seq/mAP"] for line in lines]


@pytest.mark.parametrize(
    ("values", "stopper", "stops_after"),
    [
        # 0.3 is not better than 0.3 + 0.1; 0.35 neither: patience 2 runs out at evaluation 4
        ([0.1, 0.3, 0.3, 0.35, 0.9], {"patience": 2, "min_delta": 0.1}, 4),
        # any increase counts with min_delta 0: stops after three flat evaluations
        ([0.1, 0.2, 0.25, 0.25, 0.24, 0.25, 0.9], {"patience": 3}, 6),
        # rule less: the loss keeps falling until evaluation 3
        ([3.0, 2.0, 1.0, 1.5, 1.2, 0.1], {"patience": 2, "rule": "less"}, 5),
    ],
)
def test_stops_after_patience_evaluations_without_improvement(
    kit, tmp_path, values, stopper, stops_after
):
    runner = kit.run_training(epoch_config(kit, tmp_path, values, **stopper))
    assert evaluations(tmp_path) == values[:stops_after]
    assert runner.epoch == stops_after and runner.iter == 2 * stops_after
    assert kit.config_hook(runner, EarlyStoppingHook).stopped
    assert (
        "EarlyStoppingHook: stopping, seq/mAP has not improved"
        in (tmp_path / "log.txt").read_text()
    )


def test_never_stops_while_improving(kit, tmp_path):
    runner = kit.run_training(epoch_config(kit, tmp_path, [0.1 * i for i in range(10)], patience=1))
    assert runner.epoch == 10 and not kit.config_hook(runner, EarlyStoppingHook).stopped


def test_nan_never_improves_and_the_state_survives_a_resume():
    hook = EarlyStoppingHook(monitor="m", patience=3)
    assert hook.improved(0.1) and not hook.improved(float("nan"))
    hook.best, hook.best_iter, hook.wait = 0.4, 20, 2
    again = EarlyStoppingHook(monitor="m", patience=3)
    again.load_state_dict(hook.state_dict())
    assert (again.best, again.best_iter, again.wait) == (0.4, 20, 2)


def test_a_missing_monitor_key_stops_the_run_listing_the_keys(kit, tmp_path):
    cfg = epoch_config(kit, tmp_path, [0.5])
    cfg["hooks"][0]["monitor"] = "coco/mAP"
    with pytest.raises(DetplugError) as info:
        kit.run_training(cfg)
    assert "monitored key 'coco/mAP' is not in the metrics: seq/images, seq/mAP" in str(info.value)
