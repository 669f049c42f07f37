"""The root registries owned by the core. Plugins hang scoped children below them."""

from __future__ import annotations

from detplug_core.registry.registry import Registry

MODELS = Registry("models")
DATASETS = Registry("datasets")
TRANSFORMS = Registry("transforms")
SAMPLERS = Registry("samplers")
METRICS = Registry("metrics")
HOOKS = Registry("hooks")
OPTIMIZERS = Registry("optimizers")
SCHEDULERS = Registry("schedulers")

ROOT_REGISTRIES: dict[str, Registry] = {
    r.name: r
    for r in (MODELS, DATASETS, TRANSFORMS, SAMPLERS, METRICS, HOOKS, OPTIMIZERS, SCHEDULERS)
}


def _load_everything() -> None:
    from detplug_core.plugins.loader import ensure_loaded

    ensure_loaded()


for _root in ROOT_REGISTRIES.values():
    _root.set_loader(_load_everything)
