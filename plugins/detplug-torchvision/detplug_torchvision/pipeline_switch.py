"""``PipelineSwitchHook``: from a point of training on, the training data uses the
``switch_transforms`` of its ``MultiImageMixDataset`` (RTMDet's and YOLOX's last epochs
without Mosaic and MixUp).

The stage is a function of the data pass about to start (its epoch index, or its first
iteration), set in ``before_train_epoch``: the loop calls that stage before it creates the
pass's DataLoader iterator, so no sample of the pass was requested before the switch, and
a resumed run sets the same stage from its restored position (the hook keeps no state).
"""

from __future__ import annotations

from detplug_core import Hook, RunnerView
from detplug_core.errors import BuildError, ConfigError
from detplug_torchvision.multi_image_dataset import MultiImageMixDataset, find_mix_datasets
from detplug_torchvision.registries import HOOKS

__all__ = ["PipelineSwitchHook"]

NAME = "PipelineSwitchHook"


def _non_negative(key: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise BuildError(f"{NAME}: {key} must be a non-negative int, got {value!r}")
    return value


@HOOKS.register()
class PipelineSwitchHook(Hook):
    """Switch the training data's ``MultiImageMixDataset`` to ``switch_transforms``.

    Give one of:
        last_epochs: the last N epochs of an epoch-based run use the switched pipeline.
        at_epoch: from epoch index ``at_epoch`` on (0-based: ``at_epoch: 280`` of 300 is
            ``last_epochs: 20``).
        at_iter: from the first data pass that starts once ``at_iter`` iterations are
            done (iteration-based runs; passes are the switch's granularity, the iteration
            it took effect at is logged).
    """

    priority = "NORMAL"

    def __init__(
        self,
        last_epochs: int | None = None,
        at_epoch: int | None = None,
        at_iter: int | None = None,
    ) -> None:
        given = {
            k: v
            for k, v in (("last_epochs", last_epochs), ("at_epoch", at_epoch), ("at_iter", at_iter))
            if v is not None
        }
        if len(given) != 1:
            raise BuildError(f"{NAME}: give exactly one of last_epochs, at_epoch, at_iter")
        self.last_epochs = _non_negative("last_epochs", last_epochs)
        self.at_epoch = _non_negative("at_epoch", at_epoch)
        self.at_iter = _non_negative("at_iter", at_iter)
        self._datasets: list[MultiImageMixDataset] = []

    def before_train(self, runner: RunnerView) -> None:
        found = find_mix_datasets(runner.train_dataloader.dataset)
        if not found:
            raise ConfigError(
                f"{NAME}: train_dataloader.dataset has no MultiImageMixDataset to switch "
                "(wrap the dataset in {type: MultiImageMixDataset, dataset: ..., "
                "transforms: ..., switch_transforms: ...})"
            )
        if any(ds.num_stages < 2 for ds in found):
            raise ConfigError(f"{NAME}: the MultiImageMixDataset has no switch_transforms")
        if self.last_epochs is not None:
            if not runner.by_epoch or runner.max_epochs is None:
                raise ConfigError(
                    f"{NAME}: last_epochs needs an epoch-based run (train.by_epoch: true); "
                    "use at_iter for an iteration-based one"
                )
            self.at_epoch = max(0, runner.max_epochs - self.last_epochs)
        self._datasets = found

    def switched(self, runner: RunnerView) -> bool:
        """Whether the data pass about to start uses ``switch_transforms``."""
        if self.at_iter is not None:
            return runner.iter - runner.epoch_iter >= self.at_iter
        return runner.epoch >= self.at_epoch

    def before_train_epoch(self, runner: RunnerView) -> None:
        stage = int(self.switched(runner))
        for dataset in self._datasets:
            if dataset.stage != stage:
                dataset.set_stage(stage)
                if stage:
                    runner.logger.info(
                        "%s: epoch %d (iteration %d) on, the training data uses switch_transforms",
                        NAME,
                        runner.epoch + 1,
                        runner.iter - runner.epoch_iter + 1,
                    )
