"""Scoped child registry of this plugin (scope ``yolo``)."""

import detplug_core

DATASETS = detplug_core.Registry("datasets", parent=detplug_core.DATASETS, scope="yolo")
