"""Scoped child registry of this plugin (scope ``mask_rcnn``)."""

import detplug_core

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="mask_rcnn")
