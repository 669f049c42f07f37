"""Scoped child registry of this plugin (scope ``retinanet``)."""

import detplug_core

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="retinanet")
