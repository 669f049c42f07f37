"""The training position: a small record the loop owns and hooks read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Progress:
    """Where training stands. ``epoch`` and ``iter`` count *completed* epochs and
    iterations; ``epoch_iter`` counts the batches consumed in the current epoch. The loop
    advances ``iter``/``epoch_iter`` right after the optimizer step (so inside
    ``after_train_iter`` they already count that iteration) and ``epoch`` right after the
    last batch of a data pass (so inside ``after_train_epoch`` it counts that epoch).
    ``iter_time``/``data_time`` are the seconds of the last iteration: from the end of the
    previous iteration's hooks to the end of the step, and the part of it spent waiting
    for data."""

    by_epoch: bool = True
    max_epochs: int | None = None
    max_iters: int | None = None
    epoch: int = 0
    iter: int = 0
    epoch_iter: int = 0
    iter_time: float = 0.0
    data_time: float = 0.0

    @property
    def finished(self) -> bool:
        if self.by_epoch:
            return self.max_epochs is not None and self.epoch >= self.max_epochs
        return self.max_iters is not None and self.iter >= self.max_iters
