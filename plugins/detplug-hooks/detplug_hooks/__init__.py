"""detplug-hooks: optional training hooks, each enabled from a config's ``hooks:`` list.

``TensorBoardHook``, ``CSVLoggerHook``, ``EMAHook``, ``EarlyStoppingHook``,
``CheckInvalidLossHook``, ``PredictionPreviewHook``, ``SpeedMonitorHook``,
``TrainingCurvesHook`` and ``EvalPlotsHook`` (registry scope
``hooks``; see docs/hooks.md and this package's README).

The package also adds the ``detplug data check|show`` commands and writes ``labels.png``
(the training data's classes and box sizes) into every training run's work dir.

Importing the package only registers the classes; torch loads with detplug's Runner anyway,
and tensorboard only when a ``TensorBoardHook`` writes its first event.
"""

from detplug_hooks.csv_logger import CSVLoggerHook
from detplug_hooks.curves import TrainingCurvesHook
from detplug_hooks.early_stopping import EarlyStoppingHook, MonitorNotFoundError
from detplug_hooks.ema import EMAHook
from detplug_hooks.eval_plots import EvalPlotsHook
from detplug_hooks.invalid_loss import CheckInvalidLossHook, InvalidLossError
from detplug_hooks.plugin_hooks import after_train_iter, before_train, detplug_cli_commands
from detplug_hooks.preview import PredictionPreviewHook
from detplug_hooks.registries import HOOKS
from detplug_hooks.speed_monitor import SpeedMonitorHook
from detplug_hooks.tensorboard import TensorBoardHook

__version__ = "0.1.0"
__all__ = [
    "HOOKS",
    "CSVLoggerHook",
    "CheckInvalidLossHook",
    "EMAHook",
    "EarlyStoppingHook",
    "EvalPlotsHook",
    "InvalidLossError",
    "MonitorNotFoundError",
    "PredictionPreviewHook",
    "SpeedMonitorHook",
    "TensorBoardHook",
    "TrainingCurvesHook",
    "after_train_iter",
    "before_train",
    "detplug_cli_commands",
]
