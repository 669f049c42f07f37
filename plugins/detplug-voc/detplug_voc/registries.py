"""Scoped child registries of this plugin (scope ``voc``)."""

import detplug_core

DATASETS = detplug_core.Registry("datasets", parent=detplug_core.DATASETS, scope="voc")
METRICS = detplug_core.Registry("metrics", parent=detplug_core.METRICS, scope="voc")
