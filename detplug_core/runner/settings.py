"""The runner's typed settings, read once from the config with one clear error per wrong key:
top-level switches (:class:`RunSettings`), ``train:`` and ``checkpoint:``. The top-level keys
the runner knows (:data:`TOP_LEVEL_KEYS`) derive from these classes and the component keys."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from detplug_core.errors import ConfigError


def _read(section: str, cfg: Any, cls: type) -> Any:
    if cfg is None:
        return cls()
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{section}: expected a mapping, got {cfg!r}")
    known = [f.name for f in fields(cls)]
    for key in cfg:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{section}.{key}: unknown option{hint} (known: {', '.join(known)})")
    return cls(**cfg)


def config_number(value: Any, key_path: str) -> float:
    """``value`` as a float, or a ConfigError naming ``key_path`` and the value."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        err = ConfigError(f"{key_path}: expected a number, got {value!r}")
        err.key_path = key_path
        raise err
    return float(value)


@dataclass
class TrainSettings:
    """``train:``: loop kind and length, validation and logging intervals."""

    by_epoch: bool = True
    max_epochs: int | None = None
    max_iters: int | None = None
    val_interval: int | None = None  # epochs or iterations; default 1 epoch / end of run
    log_interval: int = 50

    @classmethod
    def from_config(cls, cfg: Any) -> TrainSettings:
        s = _read("train", cfg, cls)
        if s.by_epoch and not (isinstance(s.max_epochs, int) and s.max_epochs > 0):
            raise ConfigError(
                f"train.max_epochs: epoch-based training needs a positive int, got {s.max_epochs!r}"
            )
        if not s.by_epoch and not (isinstance(s.max_iters, int) and s.max_iters > 0):
            raise ConfigError(
                f"train.max_iters: iteration-based training (by_epoch: false) "
                f"needs a positive int, got {s.max_iters!r}"
            )
        if s.val_interval is None:
            s.val_interval = 1 if s.by_epoch else s.max_iters
        if not isinstance(s.log_interval, int) or s.log_interval < 1:
            raise ConfigError(
                f"train.log_interval: expected a positive int, got {s.log_interval!r}"
            )
        return s


@dataclass
class CheckpointSettings:
    """``checkpoint:``: when to save, how many to keep, which metric picks ``best_*.pth``."""

    interval: int = 1  # 0 = only at the end (and on signals)
    by_epoch: bool | None = None  # unit of interval; default: train.by_epoch
    keep_last: int | None = 3  # null = keep all
    save_best: str | None = None  # a metric key such as coco/mAP, or "auto" (the first)
    rule: str | None = None  # greater | less; default greater (less for keys with "loss")
    save_last: bool = True

    @classmethod
    def from_config(cls, cfg: Any, train_by_epoch: bool) -> CheckpointSettings:
        s = _read("checkpoint", cfg, cls)
        if s.by_epoch is None:
            s.by_epoch = train_by_epoch
        if not isinstance(s.interval, int) or s.interval < 0:
            raise ConfigError(f"checkpoint.interval: expected an int >= 0, got {s.interval!r}")
        if s.keep_last is not None and (not isinstance(s.keep_last, int) or s.keep_last < 1):
            raise ConfigError(
                f"checkpoint.keep_last: expected an int >= 1 or null, got {s.keep_last!r}"
            )
        if s.rule not in (None, "greater", "less"):
            raise ConfigError(f"checkpoint.rule: expected greater or less, got {s.rule!r}")
        return s

    def is_better(self, key: str, value: float, best: float | None) -> bool:
        rule = self.rule or ("less" if "loss" in key.lower() else "greater")
        if best is None:
            return True
        return value < best if rule == "less" else value > best


@dataclass
class RunSettings:
    """Top-level switches of a run (``seed``, ``device``, ``amp`` ...; docs/runner.md)."""

    work_dir: str | None = None
    seed: int | None = 0
    deterministic: bool = False
    device: str | None = None  # None / "auto": cuda when available
    amp: str | None = None  # bf16 | fp16 | null
    clip_grad: dict | None = None  # {max_norm, norm_type}
    load_from: str | dict | None = None  # a path, a weights name, or {path, class_map}
    resume: str | bool | None = None  # auto | true | a path
    resume_allow_orphans: bool = False
    find_unused_parameters: bool = False
    sync_bn: bool = False  # DDP on GPUs: SyncBatchNorm (refused on CPU)
    required_plugins: list | None = None  # checked before anything is built
    data_root: str | None = None  # the classic variable dataset bases refer to as ${data_root}
    data: dict | None = None  # {path, format, classes}: what --data PATH found (docs/data.md)
    imgsz: int | None = None  # the input size recipes refer to as ${imgsz} (--imgsz N)

    @classmethod
    def from_config(cls, cfg: Mapping) -> RunSettings:
        values = {
            f.name: cfg[f.name]
            for f in fields(cls)
            if f.name in cfg and (cfg[f.name] is not None or f.name == "seed")  # null: drawn
        }
        s = cls(**values)
        for name in ("deterministic", "resume_allow_orphans", "find_unused_parameters", "sync_bn"):
            if not isinstance(getattr(s, name), bool):
                raise ConfigError(f"{name}: expected true or false, got {getattr(s, name)!r}")
        if s.work_dir is not None:
            s.work_dir = os.fspath(s.work_dir)
        return s


#: Top-level keys built through a registry (component configs).
COMPONENT_KEYS = (
    "model",
    "train_dataloader",
    "val_dataloader",
    "test_dataloader",
    "metrics",
    "optimizer",
    "param_schedulers",
    "hooks",
)
#: Every top-level key the runner reads: components, sections, switches.
TOP_LEVEL_KEYS = (
    *COMPONENT_KEYS,
    "train",  # TrainSettings
    "checkpoint",  # CheckpointSettings
    *(f.name for f in fields(RunSettings)),
)


def resolve_work_dir(cfg: Mapping, filename: str | None) -> Path:
    """``work_dir``, else ``work_dirs/<config file stem>``, else ``work_dirs/run``."""
    if cfg.get("work_dir"):
        return check_work_dir(Path(os.fspath(cfg["work_dir"])))
    stem = Path(filename).stem if filename else "run"
    return check_work_dir(Path("work_dirs") / stem)


def check_work_dir(path: Path) -> Path:
    """``path`` if it is, or can become, a folder; else a ConfigError naming the file in
    the way."""
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            what = "is a file" if part == path else f"is under {part}, which is a file"
            raise ConfigError(f"work_dir: {path} {what}; give a folder (--work-dir DIR)")
        if part.exists():
            break
    return path


def plain(value: Any) -> Any:
    """A copy made of plain dicts, lists and scalars (safe for weights-only checkpoints)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, type):  # a class given as ``type`` in code
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def unknown_top_level_keys(cfg: Mapping) -> list[str]:
    """Top-level keys nobody in the core reads (plugins may read their own)."""
    return [k for k in cfg if k not in TOP_LEVEL_KEYS and not str(k).startswith("_")]


def resolved_config(cfg: Mapping, seed: int, work_dir: Path) -> dict[str, Any]:
    """The config as plain data, with the seed and work dir a run actually used (written to
    the work dir and into every checkpoint)."""
    return {**plain(cfg), "seed": seed, "work_dir": str(work_dir)}
