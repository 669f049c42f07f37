"""EMAHook: an exponential moving average of the model's weights, used for evaluation."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from detplug_core import Hook, RunnerView
from detplug_core.errors import BuildError, CheckpointError
from detplug_hooks.checks import check_bool, check_choice, check_float, check_int
from detplug_hooks.registries import HOOKS
from detplug_hooks.runner_access import bare_model, iteration_done

NAME = "EMAHook"


@HOOKS.register()
class EMAHook(Hook):
    """Keep ``ema = decay * ema + (1 - decay) * weights`` after every ``interval`` iterations.

    Args:
        decay: weight of the old average, in [0, 1); default 0.9998.
        momentum: MMDetection's spelling, ``1 - decay`` (give ``decay`` or ``momentum``).
        warmup_iters: ramp the decay as ``decay * (1 - exp(-updates / warmup_iters))`` so the
            average follows the fast-changing early weights (YOLOX style); 0 disables it.
        warmup: ``yolox`` (the ramp above) or ``exp_momentum``: MMDetection's
            ``ExpMomentumEMA`` (RTMDet) exactly, ``decay * (1 - exp(-(1 + updates) /
            warmup_iters))`` after a first update that copies the weights
            (``momentum: 0.0002, warmup_iters: 2000, warmup: exp_momentum`` is its
            ``momentum=0.0002, gamma=2000``).
        begin_iter: the average is a plain copy of the weights until this iteration.
        interval: update every ``interval`` training iterations.
        eval_with_ema: validate and test on the averaged weights (swapped in at
            ``before_val_epoch``/``before_test_epoch`` for that pass only: swapped back when
            its predictions are in, however it ends).

    Floating-point parameters and buffers are averaged; integer buffers are copied. The
    average and the update count are saved in checkpoints, so a resumed run continues with
    bitwise the same average as an uninterrupted one.
    """

    priority = "NORMAL"

    def __init__(
        self,
        decay: float | None = None,
        momentum: float | None = None,
        warmup_iters: int = 0,
        warmup: str = "yolox",
        begin_iter: int = 0,
        interval: int = 1,
        eval_with_ema: bool = True,
    ) -> None:
        if decay is not None and momentum is not None:
            raise BuildError(f"{NAME}: give decay or momentum (= 1 - decay), not both")
        if momentum is not None:
            decay = 1.0 - check_float(NAME, "momentum", momentum, low=0, high=1, low_open=True)
        self.decay = check_float(
            NAME, "decay", 0.9998 if decay is None else decay, low=0, high=1, high_open=True
        )
        self.warmup_iters = check_int(NAME, "warmup_iters", warmup_iters, minimum=0)
        self.warmup = check_choice(NAME, "warmup", warmup, ("yolox", "exp_momentum"))
        self.begin_iter = check_int(NAME, "begin_iter", begin_iter, minimum=0)
        self.interval = check_int(NAME, "interval", interval)
        self.eval_with_ema = check_bool(NAME, "eval_with_ema", eval_with_ema)
        self.updates = 0
        self.ema: dict[str, Tensor] | None = None
        self._pairs_cache: tuple | None = None

    # -- the average --------------------------------------------------------------------------
    def current_decay(self) -> float:
        """The decay used for the next update (after the warm-up ramp)."""
        if self.warmup_iters == 0:
            return self.decay
        if self.warmup == "exp_momentum":  # MMDetection: lerp by (1-m) e^(-(1+k)/gamma) + m
            if self.updates == 0:
                return 0.0
            return self.decay * (1.0 - math.exp(-(1 + self.updates) / self.warmup_iters))
        return self.decay * (1.0 - math.exp(-self.updates / self.warmup_iters))

    def _ensure_initialised(self, model: nn.Module) -> dict[str, Tensor]:
        state = model.state_dict()
        if self.ema is None:
            self.ema = {k: v.detach().clone() for k, v in state.items()}
        else:
            missing = set(state) - set(self.ema)
            if missing:
                raise CheckpointError(
                    f"{NAME}: the saved average lacks {len(missing)} model entries "
                    f"(e.g. {sorted(missing)[0]!r}); was the checkpoint from another model?"
                )
            if any(v.device != state[k].device for k, v in self.ema.items()):
                self.ema = {k: v.to(state[k].device) for k, v in self.ema.items()}
        return self.ema

    @torch.no_grad()
    def update(self, model: nn.Module, iteration: int) -> None:
        """Fold the current weights of ``model`` into the average (``iteration`` 1-based).

        One multi-tensor ``lerp_`` towards the weights by ``1 - decay`` over the
        floating-point entries (as MMEngine's averages do) and one multi-tensor copy of the
        others. The pairs of average and weight are found once per model and average: the
        model's own parameter and buffer objects, which the optimizer updates in place (on a
        CPU a small model's ``state_dict()`` and per-tensor calls were ~4% of its iteration)."""
        avgs, values, int_avgs, int_values = self._pairs(model)
        if iteration <= self.begin_iter:
            torch._foreach_copy_(avgs + int_avgs, values + int_values)
            return
        if int_avgs:
            torch._foreach_copy_(int_avgs, int_values)
        if avgs:
            torch._foreach_lerp_(avgs, values, 1.0 - self.current_decay())
        self.updates += 1

    def _pairs(self, model: nn.Module) -> tuple[list[Tensor], list[Tensor], list[Tensor], list]:
        """(float averages, their weights, other averages, their values), found again when
        the model or the average dict is another object (a resume loads a new dict). The
        weights are the model's parameter and buffer objects themselves, as an optimizer
        holds them, so a replaced ``.data`` is still read."""
        cache = self._pairs_cache
        if cache is not None and cache[0] is model and cache[1] is self.ema:
            return cache[2]
        ema = self._ensure_initialised(model)
        pairs: tuple[list, list, list, list] = ([], [], [], [])
        for name, value in model.state_dict(keep_vars=True).items():
            avg = ema[name]
            k = 0 if avg.is_floating_point() else 2
            pairs[k].append(avg)
            pairs[k + 1].append(value)
        self._pairs_cache = (model, ema, pairs)
        return pairs

    # -- runner stages ------------------------------------------------------------------------
    def before_train(self, runner: RunnerView) -> None:
        self._ensure_initialised(bare_model(runner))

    def after_train_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any, outputs: dict):
        iteration = iteration_done(runner)
        if iteration % self.interval == 0:
            self.update(bare_model(runner), iteration)

    def before_val_epoch(self, runner: RunnerView) -> None:
        self._evaluate_average(runner)

    def before_test_epoch(self, runner: RunnerView) -> None:
        self._evaluate_average(runner)

    def _evaluate_average(self, runner: RunnerView) -> None:
        """The average replaces the weights for this evaluation pass only: the evaluator
        exits :meth:`averaged_weights` when the pass's predictions are in, also when a
        signal or an error ends it, so a checkpoint never holds the average as ``model``."""
        if self.eval_with_ema and self.ema is not None:
            runner.evaluator.enter_context(self.averaged_weights(bare_model(runner)))

    @contextlib.contextmanager
    def averaged_weights(self, model: nn.Module) -> Iterator[None]:
        """The average in ``model`` inside the block, its own weights back after it."""
        ema = self._ensure_initialised(model)
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(ema)
        try:
            yield
        finally:
            model.load_state_dict(backup)

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The update count and the average (shared tensors: the runner writes them at once,
        and the average changes only in ``after_train_iter``)."""
        if self.ema is None:
            return {"updates": self.updates}
        return {"updates": self.updates, "ema": dict(self.ema)}

    def load_state_dict(self, state: dict) -> None:
        self.updates = int(state.get("updates", 0))
        ema = state.get("ema")
        self.ema = None if ema is None else dict(ema)
