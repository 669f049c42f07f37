"""Components the core itself registers (optimizers, schedulers, dataset wrappers, hooks).

Imported by the plugin loader before any plugin, on the first registry lookup. Each module
listed here registers into the root registries at import.
"""

import detplug_core.runner.registrations  # noqa: F401
