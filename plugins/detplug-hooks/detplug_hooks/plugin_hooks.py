"""detplug-hooks' plugin-level hook implementations: the ``detplug data`` commands,
``labels.png`` written into every training run's work dir, a warning when the photos are
much larger than the size the recipe trains at, and the eta after the first iterations."""

from __future__ import annotations

from typing import Any

from detplug_core import hookimpl
from detplug_core.errors import DataError
from detplug_hooks.runner_access import is_main_process, work_path

__all__ = ["after_train_iter", "before_train", "detplug_cli_commands"]


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
    from detplug_hooks.data_stats import collect_stats, parsed_leaves
    from detplug_hooks.photo_size import photo_size_warning
    from detplug_hooks.plots.labels import plot_labels

    dataset = runner.train_dataloader.dataset
    try:
        stats = collect_stats(dataset, "train")
    except DataError as err:
        runner.logger.info("labels.png not written: %s", err)
        return
    warning = photo_size_warning(dataset, parsed_leaves(dataset))
    if warning:
        runner.logger.warning(warning)
    out = plot_labels(
        stats.boxes, stats.labels, stats.image_sizes, stats.classes,
        work_path(runner, "labels.png"), title=f"training data: {stats.num_images} images",
    )  # fmt: skip
    runner.logger.info("wrote %s", out)


@hookimpl
def after_train_iter(runner: Any) -> None:
    """The iteration time and eta after the first iterations (rank 0)."""
    if not is_main_process(runner):
        return
    from detplug_hooks.early_eta import early_eta_line

    line = early_eta_line(runner)
    if line:
        runner.logger.info(line)
