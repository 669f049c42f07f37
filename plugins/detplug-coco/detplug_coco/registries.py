"""Scoped child registries of this plugin (scope ``coco``)."""

import detplug_core

DATASETS = detplug_core.Registry("datasets", parent=detplug_core.DATASETS, scope="coco")
METRICS = detplug_core.Registry("metrics", parent=detplug_core.METRICS, scope="coco")
