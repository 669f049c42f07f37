"""Distributed helpers, public: what the runner and plugin code (losses, metrics) share.

For plugins: :func:`is_active` (more than one process in an initialised group),
:func:`all_reduce_mean` (e.g. a loss normaliser averaged over ranks, as FCOS and RTMDet
do), :func:`gather_to_main`, :func:`broadcast_from_main` and :func:`barrier`. Each is the
identity (or a no-op) in a single process, so a plugin calls them unconditionally.

For the runner: :func:`env_info`, :func:`resolve_device` and :func:`init_distributed` join
the process group from torchrun's environment (``WORLD_SIZE`` > 1; ``detplug train --nproc
N`` starts the ranks itself): nccl when the device is CUDA, gloo otherwise. Only rank 0
writes files; evaluation predictions are gathered to rank 0 and the metrics broadcast, so
every rank sees the same numbers.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from detplug_core.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """Rank and world size from torchrun's environment variables (1 process without)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def resolve_device(value: str | None, info: DistInfo) -> torch.device:
    """``auto``/None: CUDA if available else CPU; each rank takes GPU ``local_rank``."""
    value = (value or "auto").lower()
    if value == "auto":
        value = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(value)
    except RuntimeError:
        raise ConfigError(
            f"device: unknown device {value!r} (use auto, cpu, cuda, cuda:N)"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {value!r} requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", info.local_rank if info.distributed else 0)
        torch.cuda.set_device(device)
    return device


def init_distributed(info: DistInfo, device: torch.device, timeout_s: float = 1800) -> None:
    """Join the process group (no-op for one process or when already joined)."""
    if not info.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    timeout = datetime.timedelta(seconds=timeout_s)
    device_id = device if device.type == "cuda" else None
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    if attempt is None or "MASTER_ADDR" not in os.environ:
        dist.init_process_group(backend=backend, timeout=timeout, device_id=device_id)
        return
    # Under torchrun the ranks meet in the agent's store, which outlives a restart: the keys
    # the failed attempt's ranks wrote (their gloo addresses) are still there, and a
    # restarted rank could read a dead peer's address before the new peer overwrites it
    # ("Connection refused"). Each attempt gets its own key space.
    store, rank, world_size = next(dist.rendezvous("env://", timeout=timeout))
    dist.init_process_group(
        backend=backend,
        store=dist.PrefixStore(f"detplug/attempt_{attempt}", store),
        rank=rank,
        world_size=world_size,
        timeout=timeout,
        device_id=device_id,
    )


def is_active() -> bool:
    """Whether this process is one of several in an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """Average ``values`` over ranks (identity for one process)."""
    if not is_active():
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / dist.get_world_size()


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` as a list on rank 0 (None elsewhere)."""
    if not is_active():
        return [obj]
    out: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_from_main(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not is_active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if is_active():
        dist.barrier()
