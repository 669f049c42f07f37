"""Scoped child registry of this plugin (scope ``fcos``)."""

import detplug_core

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="fcos")
