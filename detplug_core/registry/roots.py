"""The root registries owned by the core. Plugins hang scoped children below them.

They fill themselves on first use through the source the plugin loader installs
(``detplug_core.plugins.source``, connected when ``detplug_core`` is imported)."""

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
