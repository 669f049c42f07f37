"""Scoped child registry of this plugin (scope ``rtmdet``)."""

import detplug_core

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="rtmdet")
