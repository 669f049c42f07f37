"""First-party plugin catalogue, used only to suggest what to ``pip install``.

The core never imports plugins by name; this table only turns "'RetinaNet' is not
registered" into a hint naming the distribution that provides it, when that distribution is
not installed or was blocked. Third-party plugins are found through entry points alone.
"""

from __future__ import annotations

CATALOG: dict[str, tuple[str, ...]] = {
    "detplug-torchvision": ("ResNet", "MobileNetV3", "FPN", "AspectRatioBatchSampler"),
    "detplug-fcos": ("FCOS", "FCOSHead"),
    "detplug-retinanet": ("RetinaNet", "RetinaNetHead"),
    "detplug-rtmdet": ("RTMDet", "RTMDetHead", "CSPNeXt", "CSPNeXtPAFPN"),
    "detplug-faster-rcnn": ("FasterRCNN", "RPN", "RPNHead", "RoIHead", "TwoMLPHead"),
    "detplug-coco": ("CocoDataset", "CocoMetric"),
    "detplug-voc": ("VOCDataset", "VOCMetric"),
    "detplug-shapes": ("ShapesDataset",),
    "detplug-yolo-format": ("YoloDataset",),
    "detplug-hooks": (
        "TensorBoardHook",
        "CSVLoggerHook",
        "EMAHook",
        "EarlyStoppingHook",
        "CheckInvalidLossHook",
        "PredictionPreviewHook",
        "SpeedMonitorHook",
        "TrainingCurvesHook",
    ),
}


def distribution_for(type_name: str) -> str | None:
    for dist, names in CATALOG.items():
        if type_name in names:
            return dist
    return None


def install_hint(type_name: str) -> str:
    """`` It is provided by X: pip install X`` (or why it is not active), else ``""``."""
    dist = distribution_for(type_name)
    if dist is None:
        return ""
    from detplug_core.plugins.loader import normalize
    from detplug_core.plugins.state import blocked_text, records

    for record in records():
        if normalize(record.distribution) == dist:
            if record.status == "blocked":
                return f" It is provided by {blocked_text(record)}."
            if record.status == "not-autoloaded":
                return (
                    f" It is provided by {dist}, which is installed but not autoloaded "
                    f"(DETPLUG_PLUGINS_AUTOLOAD=0): add -p {record.name}"
                )
            return ""
    return f" It is provided by {dist}: pip install {dist}"


def blocked_providers_hint(type_name: str) -> str:
    """For a name no catalogue knows: the blocked plugins that might provide it (a blocked
    plugin is never imported, so what it registers is unknown)."""
    if distribution_for(type_name) is not None:
        return ""
    from detplug_core.plugins.state import blocked_plugins

    blocked = blocked_plugins()
    if not blocked:
        return ""
    listed = ", ".join(f"'{r.name}' ({r.distribution})" for r in blocked)
    return f" Blocked plugins, one of which may provide it: {listed} (-p no:NAME or DETPLUG_DISABLE_PLUGINS)."
