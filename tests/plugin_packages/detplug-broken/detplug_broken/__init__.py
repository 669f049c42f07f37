"""A plugin that fails on import, as a plugin with a missing dependency would."""

import detplug_core

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="broken")


@MODELS.register()
class BrokenNet:
    pass


raise ImportError("No module named 'some_missing_dependency'")
