"""``detplug convert torchvision-retinanet IN OUT``, contributed through the plugin hook."""

from __future__ import annotations

import click

import detplug_core


@click.command("torchvision-retinanet")
@click.argument("src", type=click.Path(dir_okay=False))
@click.argument("dst", type=click.Path(dir_okay=False))
@click.option(
    "--classes",
    type=click.Choice(["coco80", "all"]),
    default="coco80",
    show_default=True,
    help="coco80: the 80 COCO categories as detplug-coco labels them (num_classes 80); "
    "all: torchvision's 91 class slots (num_classes 91).",
)
def torchvision_retinanet(src: str, dst: str, classes: str) -> None:
    """Convert a torchvision retinanet_resnet50_fpn checkpoint SRC to detplug weights DST
    for retinanet::retinanet_r50_fpn_tv.yaml."""
    from detplug_retinanet.convert import convert_file

    n = convert_file(src, dst, classes=classes)
    click.echo(f"wrote {n} tensors to {dst}")


@click.group("convert")
def convert() -> None:
    """Convert checkpoints of other libraries to detplug weights."""


convert.add_command(torchvision_retinanet)


@detplug_core.hookimpl
def detplug_cli_commands() -> list[click.Command]:
    return [convert]
