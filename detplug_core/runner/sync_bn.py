"""``sync_bn: true``: BatchNorm statistics over the whole global batch in DDP training.

With plain BatchNorm each rank normalises with the statistics of its own shard, so an
N-process run is not the one-process run with the same global batch (see docs/runner.md,
"Parity with one process"). ``torch.nn.SyncBatchNorm`` all-reduces the statistics in every
forward pass. PyTorch implements it for accelerators only (CUDA), not for CPU tensors: on a
CPU run the switch is refused with one line. Frozen BatchNorms (``FrozenBatchNorm2d``, BN in
eval mode via ``frozen_stages``/``norm_eval``) are not BatchNorm modules and stay as they are.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from detplug_core.errors import ConfigError


def apply_sync_bn(model: nn.Module, value: Any, device: torch.device) -> nn.Module:
    """``model`` with its BatchNorm layers converted when ``value`` is true (the same
    parameter and buffer objects: an optimizer built before stays valid)."""
    if value is None or value is False:
        return model
    if value is not True:
        raise ConfigError(f"sync_bn: expected true or false, got {value!r}")
    if device.type == "cpu":
        raise ConfigError(
            "sync_bn: true needs accelerator devices (PyTorch's SyncBatchNorm has no CPU "
            "implementation); set sync_bn: false for CPU runs"
        )
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)
