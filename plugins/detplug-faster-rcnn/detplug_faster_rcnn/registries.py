"""Scoped child registry of this plugin (scope ``faster_rcnn``)."""

import detplug_core

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="faster_rcnn")
