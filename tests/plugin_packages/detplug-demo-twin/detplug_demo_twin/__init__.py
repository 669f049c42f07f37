"""A second plugin that also provides DemoBackbone: bare-name lookups become ambiguous."""

import detplug_core

MODELS = detplug_core.Registry("models", parent=detplug_core.MODELS, scope="demo_twin")


@MODELS.register()
class DemoBackbone:
    def __init__(self, depth: int = 50):
        self.depth = depth
