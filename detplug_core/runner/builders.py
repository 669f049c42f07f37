"""Building the runner's config-listed pieces: hooks, metrics, the plugin requirement check."""

from __future__ import annotations

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
