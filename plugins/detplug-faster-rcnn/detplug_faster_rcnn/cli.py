"""``detplug convert torchvision-faster-rcnn IN OUT``, contributed through the plugin hook (the command
and the file layout are detplug_torchvision.convert_common's, shared by the converters)."""

from __future__ import annotations

import click
from detplug_torchvision.convert_common import convert_group, torchvision_convert_command

import detplug_core


def _convert_file(src: str, dst: str, classes: str) -> int:
    from detplug_faster_rcnn.convert import convert_file

    return convert_file(src, dst, classes=classes)


torchvision_faster_rcnn = torchvision_convert_command(
    "torchvision-faster-rcnn",
    "fasterrcnn_resnet50_fpn",
    "faster_rcnn::faster_rcnn_r50_fpn_tv.yaml",
    "torchvision's 90 foreground slots (num_classes 90)",
    _convert_file,
)


@detplug_core.hookimpl
def detplug_cli_commands() -> list[click.Command]:
    return [convert_group(torchvision_faster_rcnn)]
