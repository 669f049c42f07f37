"""Building a stage's parts (``rpn.assigner``, ``roi_head.postprocess``, ...) from config.

Each part has its own optional config dict, built through the plugin's registry like the
one-stage detectors' parts (``detplug_torchvision.parts.build_part``): ``type`` may
be left out for the default class, and a user's ``type`` swaps the part. The stage's flat,
torchvision-named keys (``rpn.fg_iou_thresh``, ``roi_head.detections_per_img``, ...; the
shipped configs use them) stay documented shorthands: each fills the argument of the same
name of its part, whatever the part's type. Setting a shorthand and the part's own key for
the same argument is a BuildError, and so is a shorthand the part's type does not take
(docs/models.md, "Faster R-CNN").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detplug_torchvision.parts import build_part

from detplug_core.errors import BuildError, DetplugError
from detplug_core.registry.build import accepted_parameters
from detplug_faster_rcnn.registries import MODELS


def build_stage_part(
    owner: str,
    cfg: Mapping[str, Any] | None,
    key: str,
    default_type: str,
    shorthands: Mapping[str, Any],
    **shared: Any,
) -> Any:
    """The part ``key`` of stage ``owner`` from its config ``cfg`` (None: the default part)
    and the stage's flat keys ``shorthands`` (name -> value; None: not set). ``shared`` are
    the objects the stage hands the part (its box coder)."""
    part = dict(cfg or {})
    given = {name: value for name, value in shorthands.items() if value is not None}
    both = [name for name in given if part.get(name) is not None]
    if both:
        raise BuildError(
            "set in two places: "
            + ", ".join(f"{name} and {key}.{name}" for name in both)
            + f" (a flat key is a shorthand for the {key} argument of the same name); keep one"
        )
    refused = _not_accepted(part, default_type, given)
    if refused:
        raise BuildError(
            f"{_names(refused)} (a shorthand for {key}.{_names(refused)}) is set but "
            f"{key}'s type {part['type']!r} takes no such argument: set it to null or drop it "
            "(the shipped configs set every shorthand), or give the part that argument"
        )
    part.update(given)
    return build_part(MODELS, part, owner, key, default_type, **shared)


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "{" + ", ".join(names) + "}"


def _not_accepted(part: dict[str, Any], default_type: str, given: dict[str, Any]) -> list[str]:
    """The shorthands in ``given`` that a user's part type does not take (none for the
    default type, or when the type cannot be looked up here: the build reports that)."""
    if not given or part.get("type", default_type) == default_type or "_scope_" in part:
        return []
    try:
        obj = MODELS.get(part["type"])
    except DetplugError:
        return []
    accepted, var_kw = accepted_parameters(obj)
    return [] if var_kw else [name for name in given if name not in accepted]
