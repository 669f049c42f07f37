"""Building the runner's config-listed pieces: hooks, metrics, the plugin requirement check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detplug_core.errors import ConfigError
from detplug_core.registry import HOOKS, METRICS


def check_required_plugins(cfg: Mapping) -> None:
    """``required_plugins:``: fail early with a pip hint (detplug_core.plugins.requirements)."""
    try:
        from detplug_core.plugins.requirements import check_required_plugins as check
    except ImportError:  # an older core: say so instead of silently ignoring the key
        if cfg.get("required_plugins"):
            raise ConfigError(
                "required_plugins: this detplug-core cannot check plugin requirements "
                "(detplug_core.plugins.requirements is missing)"
            ) from None
        return
    check(cfg)


def build_hooks(cfgs: Any) -> list[tuple[Any, Any, str]]:
    """``hooks:`` -> ``(hook, priority or None, "hooks.<i>")`` in config order; ``priority``
    is taken out of each entry before the hook is built."""
    if not cfgs:
        return []
    if not isinstance(cfgs, list | tuple):
        raise ConfigError(f"hooks: expected a list of hook configs, got {cfgs!r}")
    built = []
    for i, cfg in enumerate(cfgs):
        where = f"hooks.{i}"
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"{where}: expected a mapping with 'type', got {cfg!r}")
        args = dict(cfg)
        priority = args.pop("priority", None)
        built.append((HOOKS.build(args, path=where), priority, where))
    return built


def build_metrics(cfgs: Any, dataset: Any, key: str) -> tuple[list, list[str]]:
    """``metrics:`` built with ``classes=dataset.classes``, and their log prefixes (the
    metric's ``prefix`` attribute, made unique by an index when two share one)."""
    cfgs = cfgs or []
    if isinstance(cfgs, Mapping):
        cfgs = [cfgs]
    classes = getattr(dataset, "classes", None)
    if cfgs and classes is None:
        raise ConfigError(f"{key}.dataset: {type(dataset).__name__} has no 'classes'")
    metrics, prefixes = [], []
    for i, cfg in enumerate(cfgs):
        metric = METRICS.build(cfg, path=f"metrics.{i}", classes=list(classes))
        prefix = getattr(metric, "prefix", None) or type(metric).__name__.lower()
        prefixes.append(prefix if prefix not in prefixes else f"{prefix}{i}")
        metrics.append(metric)
    return metrics, prefixes
