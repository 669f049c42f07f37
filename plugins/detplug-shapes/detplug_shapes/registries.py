"""Scoped child registry of this plugin (scope ``shapes``)."""

import detplug_core

DATASETS = detplug_core.Registry("datasets", parent=detplug_core.DATASETS, scope="shapes")
