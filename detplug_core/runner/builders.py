"""Building the runner's pieces from the config: hooks, metrics, optimizer and schedule, the
DDP wrapper; the plugin requirement check and the warnings said when a run starts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from detplug_core.errors import ConfigError
from detplug_core.registry import HOOKS, METRICS
from detplug_core.runner.hook import get_priority
from detplug_core.runner.hook_dispatch import ConfigHook


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


def build_hooks(cfgs: Any) -> list[ConfigHook]:
    """``hooks:`` -> :class:`ConfigHook` items in config order; ``priority`` and ``name``
    (the hook's state name in checkpoints) are taken out of each entry before it is built."""
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
        name = args.pop("name", None)
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigError(f"{where}.name: expected a non-empty string, got {name!r}")
        hook = HOOKS.build(args, path=where)
        # The entry's ``priority:``, else the class's own.
        value = priority if priority is not None else getattr(hook, "priority", "NORMAL")
        built.append(ConfigHook(hook, get_priority(value, f"{where}.priority"), where, name))
    return built


def with_builtin_hooks(config_hooks: list[ConfigHook]) -> list[ConfigHook]:
    """The built-in hooks (those no config entry replaces), then the config hooks."""
    from detplug_core.runner.builtin_hooks import BUILTIN_HOOKS

    builtins = []
    for cls in BUILTIN_HOOKS:
        if not any(isinstance(entry.hook, cls) for entry in config_hooks):
            hook = cls()
            builtins.append(ConfigHook(hook, get_priority(cls.priority), "built-in"))
    return builtins + config_hooks


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


def build_optimization(cfg: Mapping, model: Any, progress: Any) -> tuple[Any, Any]:
    """``optimizer:`` and ``param_schedulers:`` for ``model`` over ``progress``'s length:
    the optimizer and its :class:`~detplug_core.runner.schedulers.LRSchedule`."""
    from detplug_core.runner.optim import build_optimizer
    from detplug_core.runner.schedulers import build_schedule

    if "optimizer" not in cfg:
        raise ConfigError("optimizer: missing (e.g. {type: SGD, lr: 0.01, momentum: 0.9})")
    optimizer = build_optimizer(model, cfg["optimizer"])
    schedule = build_schedule(
        optimizer,
        cfg.get("param_schedulers"),
        max_epochs=progress.max_epochs,
        max_iters=progress.max_iters,
    )
    return optimizer, schedule


def wrap_ddp(model: Any, settings: Any, device: Any) -> tuple[Any, Any]:
    """The model (SyncBatchNorm when ``sync_bn``) and its DistributedDataParallel wrapper."""
    from torch.nn.parallel import DistributedDataParallel

    from detplug_core.runner.sync_bn import apply_sync_bn

    model = apply_sync_bn(model, settings.sync_bn, device)
    wrapped = DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=settings.find_unused_parameters,
    )
    return model, wrapped


def warn_unknown_keys(cfg: Mapping, logger: logging.Logger) -> None:
    """A warning per top-level key the runner does not read."""
    from detplug_core.runner.settings import unknown_top_level_keys

    for key in unknown_top_level_keys(cfg):
        logger.warning(
            "top-level config key '%s' is not read by the runner (a typo? fine if it is "
            "only a value referenced with ${...})",
            key,
        )


def warn_failed_plugins(logger: logging.Logger) -> None:
    """A warning per installed plugin that failed to load."""
    from detplug_core.plugins.state import failed_plugins

    for record in failed_plugins():
        logger.warning(
            "plugin '%s' (%s %s) failed to load, its components are unavailable: %s "
            "(detplug plugins shows the details)",
            record.name,
            record.distribution,
            record.version,
            record.error,
        )
