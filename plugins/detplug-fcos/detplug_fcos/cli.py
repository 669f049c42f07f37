"""``detplug convert torchvision-fcos IN OUT``: the plugin's command line."""

from __future__ import annotations

import click


@click.group(name="convert")
def convert_group() -> None:
    """Convert checkpoints of other libraries to detplug's."""


@convert_group.command(name="torchvision-fcos")
@click.argument("src", type=click.Path(dir_okay=False))  # a missing file: the reader says so
@click.argument("dst", type=click.Path(dir_okay=False))
@click.option(
    "--drop-background",
    is_flag=True,
    help="Drop torchvision's label-0 slot: label = label_tv - 1, C = C_tv - 1.",
)
@click.option(
    "--coco80",
    is_flag=True,
    help="Keep the 80 real COCO classes of a 91-slot COCO head, in category-id order.",
)
@click.option(
    "--keep-classes",
    default=None,
    metavar="I,J,...",
    help="torchvision label indices to keep, in order (detplug labels 0..C-1).",
)
@click.option(
    "--num-classes", type=int, default=None, help="Check that the result has this many classes."
)
def torchvision_fcos(
    src: str,
    dst: str,
    drop_background: bool,
    coco80: bool,
    keep_classes: str | None,
    num_classes: int | None,
) -> None:
    """Convert a torchvision fcos_resnet50_fpn (or other ResNet-FPN FCOS) state dict.

    The result loads into fcos::fcos_r50_fpn_tv.yaml (set head.num_classes to the
    printed C). Without a class option every torchvision slot is kept (C = C_tv)."""
    import torch
    from detplug_torchvision.conversion import read_source, write_converted

    from detplug_core.errors import CheckpointError, ConfigError
    from detplug_fcos.convert import (
        coco80_indices,
        coco80_names,
        convert_torchvision_fcos,
        num_classes_of,
    )

    if sum([drop_background, coco80, keep_classes is not None]) > 1:
        raise ConfigError("use only one of --drop-background, --coco80, --keep-classes")
    state = read_source(src)
    num_tv = int(state.get("head.classification_head.cls_logits.bias", torch.empty(0)).shape[0])
    keep: list[int] | None = None
    if drop_background:
        keep = list(range(1, num_tv))
    elif coco80:
        if num_tv != 91:
            raise CheckpointError(f"--coco80 needs a 91-slot COCO head, {src} has {num_tv}")
        keep = coco80_indices()
    elif keep_classes is not None:
        try:
            keep = [int(i) for i in keep_classes.split(",") if i.strip()]
        except ValueError:
            raise ConfigError(f"--keep-classes: expected integers, got {keep_classes!r}") from None
    converted = convert_torchvision_fcos(state, keep)
    classes = num_classes_of(converted)
    if num_classes is not None and num_classes != classes:
        raise ConfigError(f"--num-classes {num_classes}, but the converted head has {classes}")
    meta = {"converted_from": "torchvision-fcos", "source": src, "num_classes": classes}
    if coco80:
        meta["classes"] = coco80_names()
    write_converted(dst, converted, meta)
    click.echo(f"wrote {dst}: {len(converted)} tensors, head.num_classes = {classes}")
