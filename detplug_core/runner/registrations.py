"""Register the core's own components into the root registries.

Imported by :mod:`detplug_core.builtins` on the first registry lookup: every
``torch.optim`` optimizer (OPTIMIZERS), the lr schedulers (SCHEDULERS) and the dataset
wrappers ``ConcatDataset`` and ``RepeatDataset`` (DATASETS).
"""

import detplug_core.data.wrappers  # noqa: F401  (registers ConcatDataset, RepeatDataset)
import detplug_core.runner.schedulers  # noqa: F401  (registers the lr schedulers)
from detplug_core.runner.optim import register_torch_optimizers

register_torch_optimizers()
