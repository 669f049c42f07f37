"""Checkpoint files: atomic writes, safe loading, ``latest.pth``, keep-last-K and best.

Writing: the dict goes to a hidden temporary file in the same folder, is flushed and
fsync'ed, then renamed over the target (``os.replace`` is atomic), so a file of the final
name is always whole. ``latest.pth`` is then pointed at the new file by the same
link-to-temporary-then-rename step (a hard link; a copy where links are not supported). A
process killed at any moment leaves ``latest.pth`` either the previous or the new whole file.

Loading: only ``torch.load(weights_only=True)``: tensors and plain containers. A file that
asks the unpickler for anything else (a ``__reduce__`` payload, a class) is refused before
any of it runs; a truncated or corrupt file is one :class:`CheckpointError`.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from detplug_core.errors import CheckpointError
from detplug_core.runner.checkpoint_messages import refused_message

LATEST = "latest.pth"
_INTERVAL_NAME = re.compile(r"^(epoch|iter)_(\d+)\.pth$")
_TMP_MARK = ".tmp-"


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}")


def save_file(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` with ``torch.save`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def link_file(src: Path, dst: Path) -> None:
    """Make ``dst`` the same whole file as ``src`` atomically (hard link, else copy)."""
    tmp = _tmp_path(dst)
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    _fsync_dir(dst.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_file(path: str | os.PathLike, *, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with one clear error for every failure."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        refused = refused_message(path, text)
        if refused:
            raise CheckpointError(refused) from None
        detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
        raise CheckpointError(_corrupt(path, detail.group(1) if detail else err)) from None
    except Exception as err:  # truncated zip, empty file, garbage bytes, ...
        raise CheckpointError(_corrupt(path, err)) from None


@dataclass(frozen=True)
class CheckpointContents:
    """What :func:`read_checkpoint` found in one file: the model weights, and the resolved
    config and class names where the file holds them (runs: both; converters: classes)."""

    state_dict: dict[str, torch.Tensor]
    config: Mapping[str, Any] | None
    classes: list[str]


def read_checkpoint(path: str | os.PathLike) -> CheckpointContents:
    """The one reader of every file detplug writes or converts, and of plain PyTorch
    checkpoints: ``load_file`` (one clear error for a missing, corrupt or unsafe file),
    then the weights (``model`` entry, else ``state_dict``, else the file itself; a
    ``module.`` prefix removed), the saved ``config`` and ``meta.classes``."""
    obj = load_file(path)
    config = obj.get("config") if isinstance(obj, Mapping) else None
    return CheckpointContents(
        extract_state_dict(obj, path),
        config if isinstance(config, Mapping) else None,
        checkpoint_classes(obj) or [],
    )


def extract_state_dict(obj: object, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model weights inside a loaded file: a detplug checkpoint (``model``), a
    ``state_dict`` entry, or a bare state dict. A ``module.`` prefix (DDP) is removed."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: no model weights found (expected a state dict)")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return dict(obj)


def checkpoint_classes(obj: object) -> list[str] | None:
    """The class names saved in a checkpoint's ``meta`` (detplug checkpoints and converter
    output), or None."""
    meta = obj.get("meta") if isinstance(obj, Mapping) else None
    classes = meta.get("classes") if isinstance(meta, Mapping) else None
    return [str(c) for c in classes] if isinstance(classes, list | tuple) else None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model weights of a file, by :func:`read_checkpoint`."""
    return read_checkpoint(path).state_dict


def _corrupt(path: Path, err: BaseException | str) -> str:
    if isinstance(err, BaseException):
        text = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        err = f"{type(err).__name__}: {text}" if text else type(err).__name__
    size = path.stat().st_size if path.exists() else 0
    return (
        f"checkpoint {path} is truncated or corrupt ({size} bytes; {err}); "
        "use another checkpoint, e.g. an earlier epoch_*/iter_* file"
    )


def find_latest(work_dir: str | os.PathLike) -> Path | None:
    """``work_dir/latest.pth`` if present (what ``--resume auto`` uses)."""
    path = Path(work_dir) / LATEST
    return path if path.is_file() else None


class CheckpointFiles:
    """The checkpoint files of one work dir: interval files, ``latest.pth``, best files."""

    def __init__(self, work_dir: Path, keep_last: int | None) -> None:
        self.work_dir = work_dir
        self.keep_last = keep_last

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete temporary files left by a process killed while writing."""
        stale = [p for p in self.work_dir.glob(f".*{_TMP_MARK}*") if p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def save(self, state: dict, name: str) -> Path:
        """Write ``name``, point ``latest.pth`` at it and drop interval files beyond K."""
        path = save_file(state, self.work_dir / name)
        link_file(path, self.work_dir / LATEST)
        self._prune(keep=path)
        return path

    def link_best(self, source: Path, metric_key: str) -> Path:
        """Make ``best_<metric>.pth`` the same file as ``source``."""
        dst = self.best_path(metric_key)
        link_file(source, dst)
        return dst

    def save_best(self, state: dict, metric_key: str) -> Path:
        return save_file(state, self.best_path(metric_key))

    def best_path(self, metric_key: str) -> Path:
        return self.work_dir / f"best_{re.sub(r'[^A-Za-z0-9_.-]+', '_', metric_key)}.pth"

    def _prune(self, keep: Path) -> None:
        if not self.keep_last:
            return
        files = [p for p in self.work_dir.iterdir() if _INTERVAL_NAME.match(p.name)]
        files.sort(key=lambda p: (p.stat().st_mtime_ns, int(_INTERVAL_NAME.match(p.name)[2])))
        for old in files[: max(0, len(files) - self.keep_last)]:
            if old != keep:
                old.unlink(missing_ok=True)
