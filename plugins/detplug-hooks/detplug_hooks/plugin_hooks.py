"""detplug-hooks' plugin-level hook implementations: the ``detplug data`` commands, and
``labels.png`` written into every training run's work dir."""

from __future__ import annotations

from typing import Any

from detplug_core import hookimpl
from detplug_core.errors import DataError
from detplug_hooks.runner_access import is_main_process, work_path

__all__ = ["before_train", "detplug_cli_commands"]


@hookimpl
def detplug_cli_commands() -> list[Any]:
    from detplug_hooks.data_cli import data_group

    return [data_group]


@hookimpl
def before_train(runner: Any) -> None:
    """``work_dir/labels.png`` of the training data (rank 0; skipped for datasets without
    parsed records, with one INFO line)."""
    if not is_main_process(runner) or runner.train_dataloader is None:
        return
    from detplug_hooks.data_stats import collect_stats
    from detplug_hooks.plots.labels import plot_labels

    try:
        stats = collect_stats(runner.train_dataloader.dataset, "train")
    except DataError as err:
        runner.logger.info("labels.png not written: %s", err)
        return
    out = plot_labels(
        stats.boxes, stats.labels, stats.image_sizes, stats.classes,
        work_path(runner, "labels.png"), title=f"training data: {stats.num_images} images",
    )  # fmt: skip
    runner.logger.info("wrote %s", out)
