"""The scoped hook registry of detplug-hooks (scope ``hooks``)."""

import detplug_core

HOOKS = detplug_core.Registry("hooks", parent=detplug_core.HOOKS, scope="hooks")
