"""The heap during training (``tune_process=True``, what ``detplug train`` passes): what is
alive when the loop starts is frozen out of the cyclic collector
(detplug_core/runner/heap.py) and unfrozen after the run."""

from __future__ import annotations

import gc

from detplug_core import Hook
from detplug_core.runner import Runner
from detplug_core.runner.heap import frozen_heap

SEEN: list[int] = []


class FreezeProbe(Hook):
    def before_train_iter(self, runner, batch_idx, data_batch) -> None:
        SEEN.append(gc.get_freeze_count())


def test_the_loop_runs_with_the_built_objects_frozen_and_unfreezes_after(tmp_path, toy_config, toy):
    SEEN.clear()
    assert gc.get_freeze_count() == 0
    cfg = toy_config(
        tmp_path,
        hooks=[{"type": FreezeProbe}],
        train={"by_epoch": False, "max_iters": 3, "log_interval": 1},
    )
    with Runner(cfg, tune_process=True) as runner:
        runner.train()
        model_params = list(runner.model.parameters())
    # every iteration ran with the model, data and hooks frozen (thousands of objects)
    assert len(SEEN) == 3 and min(SEEN) > 1000
    assert gc.get_freeze_count() == 0 and model_params


def test_frozen_heap_unfreezes_when_the_block_raises():
    try:
        with frozen_heap():
            assert gc.get_freeze_count() > 0
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
