"""``detplug convert torchvision-retinanet IN OUT``, contributed through the plugin hook (the command
and the file layout are detplug_torchvision.convert_common's, shared by the converters)."""

from __future__ import annotations

import click
from detplug_torchvision.convert_common import convert_group, torchvision_convert_command

import detplug_core


def _convert_file(src: str, dst: str, classes: str) -> int:
    from detplug_retinanet.convert import convert_file

    return convert_file(src, dst, classes=classes)


torchvision_retinanet = torchvision_convert_command(
    "torchvision-retinanet",
    "retinanet_resnet50_fpn",
    "retinanet::retinanet_r50_fpn_tv.yaml",
    "torchvision's 91 class slots (num_classes 91)",
    _convert_file,
)


@detplug_core.hookimpl
def detplug_cli_commands() -> list[click.Command]:
    return [convert_group(torchvision_retinanet)]
