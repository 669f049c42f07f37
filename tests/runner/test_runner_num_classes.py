"""``num_classes: auto`` reads the data once: the dataset built to count the classes is the
one the dataloader uses."""

from __future__ import annotations

from detplug_core.runner import Runner


def test_auto_builds_the_training_dataset_once(tmp_path, toy_config, toy):
    from detplug_runner_toy.data import ToyShapes

    built: list[int] = []

    class CountedShapes(ToyShapes):
        def __init__(self, **kwargs) -> None:
            built.append(1)
            super().__init__(**kwargs)

    cfg = toy_config(
        tmp_path,
        model={"type": "ToyDetector", "num_classes": "auto"},
        train={"by_epoch": False, "max_iters": 1, "log_interval": 1},
        val_dataloader=None,
    )
    cfg["train_dataloader"]["dataset"]["type"] = CountedShapes
    with Runner(cfg) as runner:
        assert runner.model.num_classes == 2
        runner.train()
        classes = runner.train_data.dataset.classes
    assert len(built) == 1 and classes == ["red", "green"]
