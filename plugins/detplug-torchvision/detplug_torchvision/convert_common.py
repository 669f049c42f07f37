"""What the torchvision-checkpoint converters of the detector plugins share.

One layout for every converted file, the same as a run's checkpoints hold their weights:
``{"model": state_dict, "meta": {"converted_from", "source", "classes"?, ...}}``, written
atomically; read back (and by ``load_from``, ``detplug infer``) through the core's one reader
:func:`detplug_core.runner.checkpoint.read_state_dict`. Also: COCO's 80 category ids among
torchvision's 91 class slots, and the ``detplug convert torchvision-<model>`` command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import click
import torch

# The 80 category ids COCO uses, out of torchvision's 91 class slots (0 = background).
COCO80_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def coco80_names() -> list[str]:
    """The names of the 80 COCO categories, in id order (torchvision's metadata)."""
    from torchvision.models._meta import _COCO_CATEGORIES

    return [_COCO_CATEGORIES[i] for i in COCO80_IDS]


def read_source(src: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A torchvision (or any PyTorch) checkpoint's state dict, by the core's one reader."""
    from detplug_core.runner.checkpoint import read_state_dict

    return read_state_dict(src)


def write_converted(dst: str | os.PathLike, state: Mapping[str, torch.Tensor], meta: dict) -> int:
    """Write ``{"model": state, "meta": meta}`` atomically; returns the number of tensors."""
    from detplug_core.runner.checkpoint import save_file

    save_file({"model": dict(state), "meta": meta}, dst)
    return len(state)


def classes_option(all_help: str) -> Callable:
    """``--classes coco80|all`` as the RetinaNet and Faster R-CNN converters take it."""
    return click.option(
        "--classes",
        type=click.Choice(["coco80", "all"]),
        default="coco80",
        show_default=True,
        help="coco80: the 80 COCO categories as detplug-coco labels them (num_classes 80); "
        f"all: {all_help}.",
    )


def torchvision_convert_command(
    name: str, model: str, config: str, all_help: str, convert_file: Callable[..., int]
) -> click.Command:
    """``detplug convert NAME SRC DST [--classes coco80|all]`` for a converter module's
    ``convert_file(src, dst, classes=...)``."""

    @click.command(name)
    @click.argument("src", type=click.Path(dir_okay=False))
    @click.argument("dst", type=click.Path(dir_okay=False))
    @classes_option(all_help)
    def command(src: str, dst: str, classes: str) -> None:
        n = convert_file(src, dst, classes=classes)
        click.echo(f"wrote {n} tensors to {dst}")

    command.help = (
        f"Convert a torchvision {model} checkpoint SRC to detplug weights DST for {config}."
    )
    return command


def convert_group(*commands: click.Command) -> click.Group:
    """The ``detplug convert`` group of one plugin (groups of several plugins merge)."""
    group = click.Group(
        "convert", help="Convert checkpoints of other libraries to detplug weights."
    )
    for command in commands:
        group.add_command(command)
    return group
