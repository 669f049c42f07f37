"""``detplug convert torchvision-faster-rcnn IN OUT``, contributed through the plugin hook."""

from __future__ import annotations

import click

import detplug_core


@click.command("torchvision-faster-rcnn")
@click.argument("src", type=click.Path(dir_okay=False))
@click.argument("dst", type=click.Path(dir_okay=False))
@click.option(
    "--classes",
    type=click.Choice(["coco80", "all"]),
    default="coco80",
    show_default=True,
    help="coco80: the 80 COCO categories as detplug-coco labels them (num_classes 80); "
    "all: torchvision's 90 foreground slots (num_classes 90).",
)
def torchvision_faster_rcnn(src: str, dst: str, classes: str) -> None:
    """Convert a torchvision fasterrcnn_resnet50_fpn checkpoint SRC to detplug weights DST
    for faster_rcnn::faster_rcnn_r50_fpn_tv.yaml."""
    from detplug_faster_rcnn.convert import convert_file

    n = convert_file(src, dst, classes=classes)
    click.echo(f"wrote {n} tensors to {dst}")


@click.group("convert")
def convert() -> None:
    """Convert checkpoints of other libraries to detplug weights."""


convert.add_command(torchvision_faster_rcnn)


@detplug_core.hookimpl
def detplug_cli_commands() -> list[click.Command]:
    return [convert]
