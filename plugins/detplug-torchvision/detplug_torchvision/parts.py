"""How every detector builds its parts (docs/architecture.md, "One convention for detectors").

A detector composes its parts through its own scoped registry. :func:`build_part` builds an
optional part that has a default class (``preprocessor``, ``assigner``, ``loss``,
``postprocess``); :func:`build_backbone_and_neck` builds the trunk, the neck taking its
``in_channels`` from the backbone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from detplug_core.errors import BuildError


def build_part(
    registry: Any,
    cfg: Mapping | None,
    owner: str,
    key: str,
    default_type: str,
    **default_args: Any,
) -> Any:
    """A detector's optional part, built through the detector's own (scoped) ``registry``:
    ``None`` or a config without ``type`` gives ``default_type`` (a user's ``type`` swaps
    the part). ``default_args`` are what the owner hands the part (a box coder, ...); errors
    name the part as ``owner.key``."""
    cfg = dict(cfg or {})
    cfg.setdefault("type", default_type)
    return registry.build(cfg, path=f"{owner}.{key}", **default_args)


def build_backbone_and_neck(
    registry: Any, backbone: Mapping[str, Any], neck: Mapping[str, Any], owner: str
) -> tuple[nn.Module, nn.Module]:
    """The backbone, and the neck built with the backbone's ``out_channels`` as its
    ``in_channels``. A neck config that sets other ``in_channels`` is a BuildError naming
    ``owner`` (``in_channels: null`` or leaving it out takes the backbone's)."""
    trunk = registry.build(backbone)
    channels = list(trunk.out_channels)
    top = registry.build(neck, in_channels=channels)
    if list(getattr(top, "in_channels", channels)) != channels:
        raise BuildError(
            f"{owner}: neck.in_channels {list(top.in_channels)} differ from the "
            f"backbone's out_channels {channels}; leave neck.in_channels out to take the "
            "backbone's"
        )
    return trunk, top
