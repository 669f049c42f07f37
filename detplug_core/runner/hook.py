"""The :class:`Hook` base class for hooks listed in a config's ``hooks:`` section.

A hook is a small object that overrides some runner stages (the names of
:mod:`detplug_core.hookspecs`) and may keep state across a resume::

    from detplug_core import HOOKS, Hook

    @HOOKS.register()
    class PrintLoss(Hook):
        priority = "LOW"

        def after_train_iter(self, runner, outputs):   # any subset of the stage's arguments
            if runner.iter % 100 == 0:
                runner.logger.info("loss %.4f", float(outputs["loss"]))

Only the stages a subclass overrides are registered with pluggy, so an unused stage costs
nothing. ``priority`` (an int 0..100 or a name of :data:`PRIORITIES`) orders hooks: lower runs
first; a config entry's ``priority:`` key overrides the class attribute.
"""

from __future__ import annotations

from typing import Any

from detplug_core.errors import ConfigError
from detplug_core.hookspecs import RUNNER_STAGES

PRIORITIES: dict[str, int] = {
    "HIGHEST": 0,
    "VERY_HIGH": 10,
    "HIGH": 30,
    "ABOVE_NORMAL": 40,
    "NORMAL": 50,
    "BELOW_NORMAL": 60,
    "LOW": 70,
    "VERY_LOW": 90,
    "LOWEST": 100,
}


def get_priority(value: int | str, where: str = "priority") -> int:
    """An integer priority from an int in 0..100 or a name such as ``"HIGH"``."""
    if isinstance(value, str):
        if value.upper() in PRIORITIES:
            return PRIORITIES[value.upper()]
        names = ", ".join(PRIORITIES)
        raise ConfigError(f"{where}: unknown priority {value!r}; use 0..100 or one of {names}")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ConfigError(f"{where}: priority must be an int in 0..100 or a name, got {value!r}")
    return value


class Hook:
    """Base class of config hooks: override the stages you need (keyword arguments as in
    :mod:`detplug_core.hookspecs`, any subset); optionally ``state_dict`` /
    ``load_state_dict`` to survive a resume (plain types and tensors only)."""

    priority: int | str = "NORMAL"

    def before_run(self, runner: Any) -> None:
        """Once, before any loop (after building and resuming)."""

    def after_run(self, runner: Any) -> None:
        """Once, after every loop (also when stopped early)."""

    def before_train(self, runner: Any) -> None:
        """Before the first training iteration."""

    def after_train(self, runner: Any) -> None:
        """After the last training iteration."""

    def before_train_epoch(self, runner: Any) -> None:
        """At the start of each training epoch (data pass)."""

    def after_train_epoch(self, runner: Any) -> None:
        """At the end of each training epoch, before its validation and checkpoint."""

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any) -> None:
        """Before the forward pass; the lr of this iteration is already set."""

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any, outputs: dict) -> None:
        """After the optimizer step; ``outputs`` maps loss names and ``loss`` to tensors."""

    def before_val(self, runner: Any) -> None:
        """Before a validation pass."""

    def after_val(self, runner: Any) -> None:
        """After a validation pass."""

    def before_val_epoch(self, runner: Any) -> None:
        """At the start of the loop over the val dataloader."""

    def after_val_epoch(self, runner: Any, metrics: dict) -> None:
        """After evaluation; ``metrics`` maps ``<prefix>/<key>`` to floats."""

    def before_val_iter(self, runner: Any, batch_idx: int, data_batch: Any) -> None:
        """Before the model runs on one validation batch."""

    def after_val_iter(self, runner: Any, batch_idx: int, data_batch: Any, outputs: list) -> None:
        """After one validation batch (predictions in original-image pixels, on CPU)."""

    def before_test(self, runner: Any) -> None:
        """Before the test loop."""

    def after_test(self, runner: Any) -> None:
        """After the test loop."""

    def before_test_epoch(self, runner: Any) -> None:
        """At the start of the loop over the test dataloader."""

    def after_test_epoch(self, runner: Any, metrics: dict) -> None:
        """After test evaluation; ``metrics`` maps ``<prefix>/<key>`` to floats."""

    def before_test_iter(self, runner: Any, batch_idx: int, data_batch: Any) -> None:
        """Before the model runs on one test batch."""

    def after_test_iter(self, runner: Any, batch_idx: int, data_batch: Any, outputs: list) -> None:
        """After one test batch."""

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Before a checkpoint is written; may add entries."""

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """After a checkpoint was loaded for resuming."""

    def overridden_stages(self) -> list[str]:
        """The runner stages this hook's class overrides, in hookspec order."""
        cls = type(self)
        return [s for s in RUNNER_STAGES if getattr(cls, s, None) is not getattr(Hook, s)]
