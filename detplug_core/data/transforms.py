"""``build_transforms``: a list of TRANSFORMS configs becomes one ``(image, target)`` callable."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Transform = Callable[[Any, Any], tuple[Any, Any]]


class Compose:
    """Apply transforms in order; each takes and returns ``(image, target)``."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: Any, target: Any) -> tuple[Any, Any]:
        for t in self.transforms:
            image, target = t(image, target)
        return image, target

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


def _identity(image: Any, target: Any) -> tuple[Any, Any]:
    return image, target


def build_transforms(cfgs: Sequence[dict] | None) -> Transform:
    """Build each transform config with ``detplug_core.TRANSFORMS`` and chain them.

    ``None`` or ``[]`` gives the identity. Built inside a dataset's constructor, error
    messages carry the config key path (``train_dataloader.dataset.transforms.2.size``).
    """
    if not cfgs:
        return _identity
    from detplug_core.errors import ConfigError
    from detplug_core.registry import TRANSFORMS

    if not isinstance(cfgs, list | tuple):
        raise ConfigError(f"transforms: expected a list of transform configs, got {cfgs!r}")
    return Compose([TRANSFORMS.build(cfg) for cfg in cfgs])
