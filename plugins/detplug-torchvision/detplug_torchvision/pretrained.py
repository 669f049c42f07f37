"""torchvision's published weights by their torchvision names, through torchvision's own
weights API and cache.

``ResNet50_Weights.IMAGENET1K_V1`` or ``FCOS_ResNet50_FPN_Weights.COCO_V1`` name a file that
``WeightsEnum.get_state_dict`` keeps in ``$TORCH_HOME/hub/checkpoints/`` under the file name
of its URL. A cached file is read with ``weights_only=True``; a missing one is downloaded
by torchvision, unless ``DETPLUG_OFFLINE=1``. Either way, a file that cannot be had is one
error naming the file, its URL and the folder to put it in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor

from detplug_core.env import env_flag
from detplug_core.errors import CheckpointError, ConfigError

OFFLINE_ENV = "DETPLUG_OFFLINE"


def weights_enum(name: str, supported: Iterable[str]) -> object:
    """torchvision's weights entry for ``name`` (``Enum_Weights.VARIANT``), which must be one
    of ``supported``; otherwise an error listing those."""
    from torchvision.models import get_weight

    supported = sorted(supported)
    if name not in supported:
        raise ConfigError(
            f"weights {name!r}: not supported here (no detplug model describes that "
            f"architecture); supported: {', '.join(supported)}"
        )
    try:
        return get_weight(name)
    except (ValueError, KeyError, AttributeError) as err:  # an older torchvision lacks it
        raise ConfigError(f"weights {name!r}: unknown to this torchvision: {err}") from None


def cache_dir() -> Path:
    """Where torchvision keeps downloaded weights: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_file(url: str) -> Path:
    """The cache path of the file at ``url`` (torchvision names it after the URL)."""
    return cache_dir() / os.path.basename(urlparse(url).path)


def fetch_state_dict(name: str, supported: Iterable[str]) -> dict[str, Tensor]:
    """The state dict of torchvision's weights ``name``, from the cache (downloaded into it
    first by torchvision when missing and downloads are allowed)."""
    weights = weights_enum(name, supported)
    url = weights.url  # type: ignore[attr-defined]
    path = cached_file(url)
    missing = (
        f"weights {name}: file {path.name} is not in the cache folder {path.parent}; "
        f"download {url} and put it there (or set TORCH_HOME to a folder holding "
        f"hub/checkpoints/{path.name})"
    )
    if not path.is_file() and env_flag(OFFLINE_ENV, False):
        raise CheckpointError(f"{missing} ({OFFLINE_ENV} is set: nothing is downloaded)")
    try:
        state = weights.get_state_dict(  # type: ignore[attr-defined]
            progress=True, map_location="cpu", weights_only=True
        )
    except OSError as err:  # URLError, connection refused, disk full ...
        raise CheckpointError(f"{missing}: {err}") from None
    except Exception as err:  # a truncated or unsafe cached file
        raise CheckpointError(f"weights {name}: cannot read {path}: {err}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"weights {name}: {path} holds no state dict")
    return state


def published_name(filename: str) -> tuple[str, str] | None:
    """``(torchvision name, URL)`` of the published weights whose file is ``filename``
    (``resnet50-0676ba61.pth`` -> ``ResNet50_Weights.IMAGENET1K_V1``), or None."""
    from torchvision.models import get_model_weights, list_models

    base = os.path.basename(filename)
    for model in list_models():
        for weights in get_model_weights(model):
            if os.path.basename(urlparse(weights.url).path) == base:
                return f"{type(weights).__name__}.{weights.name}", weights.url
    return None
