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

Only the stages a subclass overrides are called (the dispatcher lists them once), so an
unused stage costs nothing. ``priority`` (an int 0..100 or a name of :data:`PRIORITIES`) orders hooks: lower runs
first; a config entry's ``priority:`` key overrides the class attribute.
"""

from __future__ import annotations

import inspect
from typing import Any

from detplug_core import hookspecs
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
    ``load_state_dict`` to survive a resume (plain types and tensors only).

    The stage methods of this class are generated from the hook specifications (one no-op
    per stage, with the specification's signature and docstring), so the two cannot
    drift apart."""

    priority: int | str = "NORMAL"

    def overridden_stages(self) -> list[str]:
        """The runner stages this hook's class overrides, in hookspec order."""
        cls = type(self)
        return [s for s in RUNNER_STAGES if getattr(cls, s, None) is not getattr(Hook, s)]


def _stage_method(spec: Any) -> Any:
    def stage(self: Hook, *args: Any, **kwargs: Any) -> None:
        return None

    stage.__name__ = stage.__qualname__ = spec.__name__
    stage.__doc__ = spec.__doc__
    params = list(inspect.signature(spec).parameters.values())
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    stage.__signature__ = inspect.Signature([self_param, *params], return_annotation=None)
    return stage


for _name in RUNNER_STAGES:
    setattr(Hook, _name, _stage_method(getattr(hookspecs, _name)))
del _name
