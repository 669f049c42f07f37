"""SCHEDULERS: learning-rate schedules in closed form, by iteration or by epoch, chained.

Each scheduler gives a factor ``f(step)`` where ``step`` is the global iteration (``by_epoch:
false``) or the epoch index (``by_epoch: true``) of the iteration about to run, clamped to the
scheduler's ``[begin, end]`` range. Before every training iteration the runner sets, for each
parameter group::

    lr = initial_lr * f_1(step_1) * f_2(step_2) * ...

``initial_lr`` is the group's lr when training started (kept in the optimizer's param groups,
so it is part of the optimizer state in checkpoints). A closed form rather than
``torch.optim.lr_scheduler``'s recursive updates makes epoch- and iteration-based schedules
compose freely and makes a resumed run's lr exactly that of an uninterrupted run.

Formulas (``t = clamp(step, begin, end)``, ``p = (t - begin) / (end - begin)``):

* ``LinearWarmup(start_factor=0.001)``: ``start_factor + (1 - start_factor) * p``
* ``ConstantLR(factor=1/3)``: ``factor`` while ``step < end``, then 1
* ``MultiStep(milestones, gamma=0.1)``: ``gamma ** (number of milestones <= step)``
* ``Step(step_size, gamma=0.1)``: ``gamma ** ((t - begin) // step_size)``
* ``Exponential(gamma)``: ``gamma ** (t - begin)``
* ``Cosine(eta_min_ratio=0)``: ``r + (1 - r) * (1 + cos(pi * p)) / 2``
* ``Poly(power=1, eta_min_ratio=0)``: ``r + (1 - r) * (1 - p) ** power``

``end: null`` means the end of training (``max_iters`` or ``max_epochs``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

import torch

from detplug_core.errors import ConfigError
from detplug_core.registry import SCHEDULERS


class ParamScheduler:
    """Base class: subclasses implement :meth:`factor` of a clamped step."""

    needs_end = False

    def __init__(self, begin: int = 0, end: int | None = None, by_epoch: bool = True) -> None:
        self.begin = int(begin)
        self.end = end
        self.by_epoch = bool(by_epoch)

    def resolve_end(self, run_end: int | None, where: str) -> None:
        """Fill ``end: null`` from the run length (epochs or iterations)."""
        if self.end is None:
            if run_end is None and self.needs_end:
                unit = "epochs" if self.by_epoch else "iterations"
                raise ConfigError(f"{where}.end: needed here (the run length in {unit} is unknown)")
            self.end = run_end
        if self.end is not None and self.end <= self.begin and self.needs_end:
            raise ConfigError(
                f"{where}: end ({self.end}) must be greater than begin ({self.begin})"
            )

    def __call__(self, step: int) -> float:
        end = self.end if self.end is not None else step
        return self.factor(min(max(step, self.begin), max(end, self.begin)), step)

    def factor(self, t: int, step: int) -> float:
        raise NotImplementedError

    def progress(self, t: int) -> float:
        return (t - self.begin) / (self.end - self.begin)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@SCHEDULERS.register()
class LinearWarmup(ParamScheduler):
    """Linear ramp of the factor from ``start_factor`` at ``begin`` to 1 at ``end``."""

    needs_end = True

    def __init__(
        self,
        start_factor: float = 0.001,
        end: int | None = None,
        begin: int = 0,
        by_epoch: bool = False,
    ) -> None:
        super().__init__(begin, end, by_epoch)
        self.start_factor = float(start_factor)

    def factor(self, t: int, step: int) -> float:
        return self.start_factor + (1.0 - self.start_factor) * self.progress(t)


@SCHEDULERS.register()
class ConstantLR(ParamScheduler):
    """A constant ``factor`` from ``begin`` until ``end`` (exclusive), then 1."""

    needs_end = True

    def __init__(
        self,
        factor: float = 1.0 / 3,
        end: int | None = None,
        begin: int = 0,
        by_epoch: bool = False,
    ) -> None:
        super().__init__(begin, end, by_epoch)
        self.value = float(factor)

    def factor(self, t: int, step: int) -> float:
        return self.value if self.begin <= step < self.end else 1.0


@SCHEDULERS.register()
class MultiStep(ParamScheduler):
    """Multiply by ``gamma`` at each milestone (absolute step numbers)."""

    def __init__(
        self,
        milestones: Sequence[int],
        gamma: float = 0.1,
        begin: int = 0,
        end: int | None = None,
        by_epoch: bool = True,
    ) -> None:
        super().__init__(begin, end, by_epoch)
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = float(gamma)

    def factor(self, t: int, step: int) -> float:
        return self.gamma ** bisect.bisect_right(self.milestones, t)


@SCHEDULERS.register()
class Step(ParamScheduler):
    """Multiply by ``gamma`` every ``step_size`` steps after ``begin``."""

    def __init__(
        self,
        step_size: int,
        gamma: float = 0.1,
        begin: int = 0,
        end: int | None = None,
        by_epoch: bool = True,
    ) -> None:
        super().__init__(begin, end, by_epoch)
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def factor(self, t: int, step: int) -> float:
        return self.gamma ** ((t - self.begin) // self.step_size)


@SCHEDULERS.register()
class Exponential(ParamScheduler):
    """Multiply by ``gamma`` every step after ``begin``."""

    def __init__(
        self, gamma: float, begin: int = 0, end: int | None = None, by_epoch: bool = True
    ) -> None:
        super().__init__(begin, end, by_epoch)
        self.gamma = float(gamma)

    def factor(self, t: int, step: int) -> float:
        return self.gamma ** (t - self.begin)


@SCHEDULERS.register()
class Cosine(ParamScheduler):
    """Half a cosine from 1 at ``begin`` to ``eta_min_ratio`` at ``end``."""

    needs_end = True

    def __init__(
        self,
        eta_min_ratio: float = 0.0,
        begin: int = 0,
        end: int | None = None,
        by_epoch: bool = True,
    ) -> None:
        super().__init__(begin, end, by_epoch)
        self.eta_min_ratio = float(eta_min_ratio)

    def factor(self, t: int, step: int) -> float:
        r = self.eta_min_ratio
        return r + (1.0 - r) * (1.0 + math.cos(math.pi * self.progress(t))) / 2.0


@SCHEDULERS.register()
class Poly(ParamScheduler):
    """Polynomial decay from 1 at ``begin`` to ``eta_min_ratio`` at ``end``."""

    needs_end = True

    def __init__(
        self,
        power: float = 1.0,
        eta_min_ratio: float = 0.0,
        begin: int = 0,
        end: int | None = None,
        by_epoch: bool = True,
    ) -> None:
        super().__init__(begin, end, by_epoch)
        self.power = float(power)
        self.eta_min_ratio = float(eta_min_ratio)

    def factor(self, t: int, step: int) -> float:
        r = self.eta_min_ratio
        return r + (1.0 - r) * (1.0 - self.progress(t)) ** self.power


class LRSchedule:
    """The chained schedulers of one run; :meth:`apply` sets every group's lr."""

    def __init__(self, optimizer: torch.optim.Optimizer, schedulers: list[ParamScheduler]):
        self.optimizer = optimizer
        self.schedulers = schedulers
        self.by_iter = [s for s in schedulers if not s.by_epoch]
        self.by_epoch = [s for s in schedulers if s.by_epoch]
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def lr_factor(self, iteration: int, epoch: int) -> float:
        factor = 1.0
        for s in self.by_iter:
            factor *= s(iteration)
        for s in self.by_epoch:
            factor *= s(epoch)
        return factor

    def apply(self, iteration: int, epoch: int) -> None:
        """Set the lr of the iteration ``iteration`` (0-based) in epoch ``epoch``."""
        factor = self.lr_factor(iteration, epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def state_dict(self) -> list[dict]:
        return [s.state_dict() for s in self.schedulers]

    def load_state_dict(self, states: list[dict]) -> None:
        for s, state in zip(self.schedulers, states, strict=False):
            s.load_state_dict(state)


def build_schedule(
    optimizer: torch.optim.Optimizer,
    cfgs: list[Any] | None,
    *,
    max_epochs: int | None,
    max_iters: int | None,
) -> LRSchedule:
    """Build the ``param_schedulers:`` list (None or [] gives a constant lr)."""
    if cfgs is None:
        cfgs = []
    if not isinstance(cfgs, list | tuple):
        raise ConfigError(f"param_schedulers: expected a list of schedulers, got {cfgs!r}")
    schedulers = []
    for i, cfg in enumerate(cfgs):
        where = f"param_schedulers.{i}"
        sched = SCHEDULERS.build(cfg, path=where)
        if not isinstance(sched, ParamScheduler):
            raise ConfigError(f"{where}: {type(sched).__name__} is not a ParamScheduler")
        sched.resolve_end(max_epochs if sched.by_epoch else max_iters, where)
        schedulers.append(sched)
    return LRSchedule(optimizer, schedulers)
