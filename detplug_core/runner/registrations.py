"""Register the core's own components into the root registries.

Imported by :mod:`detplug_core.builtins` on the first registry lookup: every
``torch.optim`` optimizer (OPTIMIZERS), the lr schedulers (SCHEDULERS), the dataset
wrappers ``ConcatDataset`` and ``RepeatDataset`` (DATASETS) and the runner's built-in
hooks (HOOKS), so that a config entry can replace one.
"""

import detplug_core.data.wrappers  # noqa: F401  (registers ConcatDataset, RepeatDataset)
import detplug_core.runner.schedulers  # noqa: F401  (registers the lr schedulers)
from detplug_core.registry import HOOKS
from detplug_core.runner.builtin_hooks import BUILTIN_HOOKS
from detplug_core.runner.optim import register_torch_optimizers

register_torch_optimizers()
for _hook in BUILTIN_HOOKS:
    HOOKS.register(obj=_hook)
