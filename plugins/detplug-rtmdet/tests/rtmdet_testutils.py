"""Helpers shared by the RTMDet tests: models from the packaged configs, synthetic data."""

from __future__ import annotations

from torch import nn

from detplug_core import MODELS
from detplug_core.config import load_config


def build_from_config(name: str, model: dict | None = None, **head: object) -> nn.Module:
    """Build the ``model`` of the packaged config ``rtmdet::name``, with ``head`` keys and
    top-level ``model`` keys overridden."""
    cfg = load_config(f"rtmdet::{name}")["model"]
    cfg["head"].update(head)
    cfg.update(model or {})
    return MODELS.build(cfg)
