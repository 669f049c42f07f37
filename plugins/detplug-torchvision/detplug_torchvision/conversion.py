"""Converting torchvision's detection checkpoints to detplug's: what every converter shares.

One layout for every converted file, the same as a run's checkpoints hold their weights:
``{"model": state_dict, "meta": {"converted_from", "source", "classes"?, ...}}``, written
atomically; read back (and by ``load_from``, ``detplug infer``) through the core's one reader
:func:`detplug_core.runner.checkpoint.read_state_dict`. Also: COCO's 80 category ids among
torchvision's 91 class slots, key renaming by rules, the ``detplug convert
torchvision-<model>`` command, and torchvision's published weights by name
(``load_from: RetinaNet_ResNet50_FPN_Weights.COCO_V1``) converted to the 80 COCO classes.

A detector plugin describes its converter once, as a :class:`TorchvisionConverter` (its
key-renaming rules and class selection in ``convert_state_dict``), and contributes the
converter's command and published weights through its plugin hooks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import click
import torch
from torch import Tensor

from detplug_core.errors import CheckpointError

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


CLASS_CHOICES = ("coco80", "all")

# torchvision's ResNet-FPN keys -> detplug's ``backbone`` and ``neck`` (the rules every
# ResNet-FPN detector's converter starts with; parameter names below them are the same).
BACKBONE_FPN_RULES = (
    (r"^backbone\.body\.", "backbone.body."),
    (r"^backbone\.fpn\.", "neck.fpn."),
)


def check_classes(classes: str) -> None:
    """``classes`` must be one of :data:`CLASS_CHOICES`."""
    if classes not in CLASS_CHOICES:
        raise ValueError(f"classes must be 'coco80' or 'all', got {classes!r}")


def rename_key(key: str, rules: Sequence[tuple[str, str]], model: str) -> str:
    """The detplug name of torchvision key ``key`` by the first of ``rules`` (regex pattern,
    replacement) that matches; KeyError naming the key and ``model`` if none does."""
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise KeyError(f"unexpected key in a torchvision {model} state dict: {key}")


def classes_option(all_help: str) -> Callable:
    """``--classes coco80|all`` as the converters of :class:`TorchvisionConverter` take it."""
    return click.option(
        "--classes",
        type=click.Choice(CLASS_CHOICES),
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


def coco80_published_weights(
    names: Sequence[str], convert: Callable[[dict[str, Tensor]], dict[str, Tensor]]
) -> dict[str, Callable[[], dict[str, Any]]]:
    """For the plugin hook ``detplug_pretrained_weights``: each torchvision COCO detector's
    weights in ``names``, to be loaded as a detplug checkpoint dict (``model``,
    ``meta.classes``) of the 80 real COCO classes, converted by the plugin's ``convert``."""
    return {name: partial(_load_coco80, name, tuple(names), convert) for name in names}


def _load_coco80(
    name: str, supported: tuple[str, ...], convert: Callable[[dict[str, Tensor]], dict]
) -> dict[str, Any]:
    from detplug_torchvision.pretrained import fetch_state_dict

    state = fetch_state_dict(name, supported)
    try:
        model = convert(state)
    except KeyError as err:
        raise CheckpointError(f"weights {name}: {err.args[0]}") from None
    return {"model": model, "meta": {"classes": coco80_names(), "converted_from": name}}


@dataclass(frozen=True)
class TorchvisionConverter:
    """A torchvision detector's converter, as a detector plugin declares it.

    Args:
        command: the ``detplug convert`` subcommand, ``torchvision-<model>``.
        model: torchvision's builder name (``retinanet_resnet50_fpn``), for messages.
        config: the packaged config whose model the converted weights load into.
        all_classes: what ``--classes all`` keeps, for the command's help.
        convert_state_dict: ``(state, classes="coco80"|"all") -> state``: the plugin's key
            renaming and class selection; raises KeyError for a key or shape it cannot take.
        weights: torchvision's weights names (``RetinaNet_ResNet50_FPN_Weights.COCO_V1``)
            whose architecture ``config`` describes, offered by name to ``load_from``.
    """

    command: str
    model: str
    config: str
    all_classes: str
    convert_state_dict: Callable[..., dict[str, Tensor]]
    weights: tuple[str, ...] = ()

    def convert_file(self, src: str | os.PathLike, dst: str | os.PathLike, classes: str) -> int:
        """Read a torchvision checkpoint, write the converted one; the number of tensors."""
        state = read_source(src)
        try:
            converted = self.convert_state_dict(state, classes=classes)
        except KeyError as err:
            raise CheckpointError(f"{src}: {err.args[0]}") from None
        meta: dict = {"converted_from": f"torchvision {self.model}", "source": str(src)}
        if classes == "coco80":
            meta["classes"] = coco80_names()
        return write_converted(dst, converted, meta)

    def cli_group(self) -> click.Group:
        """``detplug convert COMMAND SRC DST [--classes coco80|all]`` in its group."""
        return convert_group(
            torchvision_convert_command(
                self.command, self.model, self.config, self.all_classes, self.convert_file
            )
        )

    def hookimpls(self) -> tuple[Callable[[], list], Callable[[], dict]]:
        """The plugin hooks ``detplug_cli_commands`` (:meth:`cli_group`) and
        ``detplug_pretrained_weights`` (:meth:`published_weights`) of a plugin whose
        converter this is; its module binds them under those names."""
        import detplug_core

        @detplug_core.hookimpl
        def detplug_cli_commands() -> list[click.Command]:
            return [self.cli_group()]

        @detplug_core.hookimpl
        def detplug_pretrained_weights() -> dict[str, Callable[[], dict[str, Any]]]:
            return self.published_weights()

        return detplug_cli_commands, detplug_pretrained_weights

    def published_weights(self) -> dict[str, Callable[[], dict[str, Any]]]:
        """:attr:`weights` by name, each converted with ``classes="coco80"``."""
        return coco80_published_weights(
            self.weights, partial(self.convert_state_dict, classes="coco80")
        )
