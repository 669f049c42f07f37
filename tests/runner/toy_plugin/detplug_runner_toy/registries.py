"""Scoped child registries of the toy plugin (scope ``runner_toy``)."""

import detplug_core

SCOPE = "runner_toy"
MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope=SCOPE)
DATASETS = detplug_core.Registry("datasets", parent=detplug_core.DATASETS, scope=SCOPE)
TRANSFORMS = detplug_core.Registry("transforms", parent=detplug_core.TRANSFORMS, scope=SCOPE)
METRICS = detplug_core.Registry("metrics", parent=detplug_core.METRICS, scope=SCOPE)
HOOKS = detplug_core.Registry("hooks", parent=detplug_core.HOOKS, scope=SCOPE)
