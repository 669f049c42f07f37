"""The record of one finished evaluation (what ``runner.evaluator.last_eval`` holds)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EvalResult:
    """One finished evaluation: where it ran and what it measured."""

    mode: str
    epoch: int
    iter: int
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the pass, its metrics and its hooks
