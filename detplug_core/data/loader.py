"""Build a DataLoader from a ``*_dataloader`` config section.

```yaml
train_dataloader:
  batch_size: 8            # per process
  num_workers: 2
  persistent_workers: true # default: true when num_workers > 0
  pin_memory: null         # default: true when training on CUDA
  prefetch_factor: null    # torch default (2) when num_workers > 0
  shuffle: true            # training only
  drop_last: false         # training only
  batch_sampler: null      # {type: ...} from SAMPLERS, see below
  dataset: {type: ..., transforms: [...]}
```

A ``batch_sampler`` is built with ``SAMPLERS.build(cfg, dataset=, sampler=, batch_size=,
drop_last=, shuffle=, seed=)``, each keyword passed only if the class accepts it. It should
draw indices from ``sampler`` (seeded, sharded over ranks) to keep order resumable and
distributed; it may implement ``set_epoch(epoch)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

from detplug_core.data.collate import detection_collate
from detplug_core.data.samplers import ResumableBatchSampler, SeededDataset, ShardSampler
from detplug_core.errors import ConfigError
from detplug_core.registry import DATASETS, SAMPLERS
from detplug_core.registry.build import accepted_parameters

TRAIN_KEYS = (
    "batch_size",
    "num_workers",
    "persistent_workers",
    "pin_memory",
    "prefetch_factor",
    "shuffle",
    "drop_last",
    "batch_sampler",
    "dataset",
)
EVAL_KEYS = tuple(k for k in TRAIN_KEYS if k not in ("shuffle", "drop_last"))


@dataclass
class BuiltLoader:
    """A DataLoader with what the loops need to know about it."""

    loader: DataLoader
    dataset: Any  # the dataset as built from the config (``classes`` lives here)
    sampler: Any  # DistributedSampler (train) or ShardSampler (eval)
    custom_batches: bool  # a configured batch sampler decides the batches


def _check_keys(cfg: Mapping, key: str, allowed: tuple[str, ...]) -> None:
    for name in cfg:
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{key}.{name}: unknown dataloader option{hint}")
    if "dataset" not in cfg:
        raise ConfigError(f"{key}.dataset: missing (the dataset config, with 'type')")


def _batch_sampler(cfg: Mapping, key: str, defaults: dict) -> Any:
    type_ = cfg.get("type") if isinstance(cfg, Mapping) else None
    if type_ is None:
        raise ConfigError(f"{key}.batch_sampler: expected a mapping with 'type'")
    cls = SAMPLERS.get(type_) if isinstance(type_, str) else type_
    accepted, var_kw = accepted_parameters(cls)
    given = {k: v for k, v in defaults.items() if var_kw or k in accepted}
    return SAMPLERS.build(cfg, path=f"{key}.batch_sampler", **given)


def build_dataloader(
    cfg: Mapping,
    key: str,
    *,
    train: bool,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
    dataset: Any = None,
) -> BuiltLoader:
    """The DataLoader of section ``key`` (``train_dataloader``, ``val_dataloader``, ...);
    ``dataset``: the section's dataset when it was built already (``num_classes: auto``)."""
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{key}: expected a mapping with at least 'dataset'")
    _check_keys(cfg, key, TRAIN_KEYS if train else EVAL_KEYS)
    if dataset is None:
        dataset = DATASETS.build(cfg["dataset"], path=f"{key}.dataset")
    if not hasattr(dataset, "__len__"):
        raise ConfigError(f"{key}.dataset: {type(dataset).__name__} has no __len__")
    batch_size = cfg.get("batch_size", 1)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"{key}.batch_size: expected a positive int, got {batch_size!r}")
    num_workers = cfg.get("num_workers", 0)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        err = ConfigError(
            f"{key}.num_workers: expected 0 (load in the main process) or a positive number "
            f"of worker processes, got {num_workers!r}"
        )
        err.key_path = f"{key}.num_workers"
        raise err
    drop_last = bool(cfg.get("drop_last", False))
    if train:
        sampler: Any = DistributedSampler(
            dataset,
            num_replicas=world_size,
            rank=rank,
            shuffle=bool(cfg.get("shuffle", True)),
            seed=seed,
            drop_last=drop_last,
        )
    else:
        sampler = ShardSampler(len(dataset), rank, world_size)
    bs_cfg = cfg.get("batch_sampler")
    if bs_cfg:
        defaults = {
            "dataset": dataset,
            "sampler": sampler,
            "batch_size": batch_size,
            "drop_last": drop_last,
            "shuffle": bool(cfg.get("shuffle", train)),
            "seed": seed,
        }
        batches: Any = _batch_sampler(bs_cfg, key, defaults)
    else:
        batches = BatchSampler(sampler, batch_size, drop_last)
    with_seeds = train and num_workers > 0
    loader_dataset = SeededDataset(dataset) if with_seeds else dataset
    if train:
        batches = ResumableBatchSampler(batches, sampler, seed, with_seeds)
    extra = {}
    if num_workers > 0:
        extra["persistent_workers"] = bool(cfg.get("persistent_workers", True))
        if cfg.get("prefetch_factor") is not None:
            extra["prefetch_factor"] = int(cfg["prefetch_factor"])
    pin = cfg.get("pin_memory")
    loader = DataLoader(
        loader_dataset,
        batch_sampler=batches,
        num_workers=num_workers,
        collate_fn=detection_collate,
        pin_memory=pin_memory if pin is None else bool(pin),
        generator=torch.Generator().manual_seed(seed),
        **extra,
    )
    return BuiltLoader(loader, dataset, sampler, bool(bs_cfg))
