"""``--imgsz N``: the input size of a recipe, the way Ultralytics users give it.

A recipe that can train on other images declares its size as a top-level ``imgsz`` key (the
long side its pipelines resize images to) and its resize transforms refer to it
(``{type: torchvision.ResizeShortLong, short: ${imgsz}, long: ${imgsz}}``), so that
``--imgsz 640`` is the override ``imgsz=640``, applied before references are resolved. A
config without the key sizes its images itself; ``--imgsz`` is then refused by name.
"""

from __future__ import annotations

from collections.abc import Sequence

from detplug_core.errors import ConfigError

__all__ = ["imgsz_overrides"]


def imgsz_overrides(config: str, overrides: Sequence[str], imgsz: int | None) -> tuple[str, ...]:
    """``overrides`` plus ``imgsz=N`` when ``--imgsz N`` was given and the config has the
    key; a ConfigError naming what to change instead when it has not."""
    if imgsz is None:
        return tuple(overrides)
    if imgsz < 32:
        raise ConfigError(f"--imgsz: expected an image size of at least 32 px, got {imgsz}")
    from detplug_core.config import load_config

    cfg = load_config(config, list(overrides))
    if "imgsz" not in cfg:
        raise ConfigError(
            f"--imgsz: {config} has no top-level 'imgsz' key (its transforms set their own "
            "size): override the resize in train_dataloader.dataset.transforms and "
            "val_dataloader.dataset.transforms, or use a recipe with 'imgsz' (docs/data.md)"
        )
    return (*overrides, f"imgsz={imgsz}")
