"""Scoped child registries of this plugin (scope ``torchvision``)."""

import detplug_core

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="torchvision")
TRANSFORMS = detplug_core.Registry(
    "transforms", parent=detplug_core.TRANSFORMS, scope="torchvision"
)
SAMPLERS = detplug_core.Registry("samplers", parent=detplug_core.SAMPLERS, scope="torchvision")
DATASETS = detplug_core.Registry("datasets", parent=detplug_core.DATASETS, scope="torchvision")
HOOKS = detplug_core.Registry("hooks", parent=detplug_core.HOOKS, scope="torchvision")
