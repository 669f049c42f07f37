"""Where the bad-image scan keeps its results, so that it is paid once per file.

One JSON file per image folder, ``<cache>/image-scan/<hash of the folder>.json`` (``<cache>``
is ``$DETPLUG_CACHE``, else ``~/.cache/detplug``), maps each file name to the size and
modification time (ns) the file had when it was checked, whether it was fully decoded, and
the problem found (or none). An entry counts only while the file still has that size and
modification time; a changed file is checked again. Files are replaced atomically (temp file
+ rename) under an ``flock`` of the folder's lock file, so concurrent runs (ranks, train and
val of one folder) merge their entries. A cache that cannot be read or written only costs a
new scan: it is logged once and never fails a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

__all__ = ["ScanCache", "ScanEntry", "default_scan_cache_dir"]

logger = logging.getLogger("detplug.data")

CACHE_VERSION = 1


class ScanEntry(NamedTuple):
    """What was found for one file of the given size and modification time."""

    size: int
    mtime_ns: int
    decoded: bool  # fully decoded (else: passed the structural check)
    problem: str | None  # the decoder's message, None for a good file


def default_scan_cache_dir() -> Path:
    """``$DETPLUG_CACHE/image-scan`` if set, else ``~/.cache/detplug/image-scan``."""
    base = os.environ.get("DETPLUG_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "detplug"
    return root / "image-scan"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows: last writer wins)
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


class ScanCache:
    """Scan results by absolute file path (see the module docstring)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_scan_cache_dir()
        self._warned = False

    def _file(self, folder: str) -> Path:
        digest = hashlib.sha1(folder.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        return self.root / f"{digest}.json"

    def _read(self, folder: str) -> dict[str, list]:
        try:
            with open(self._file(folder), encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            self._warn(f"cannot read {self._file(folder)}: {err}")
            return {}
        if data.get("version") != CACHE_VERSION or data.get("folder") != folder:
            return {}
        files = data.get("files")
        return files if isinstance(files, dict) else {}

    def load(self, paths: Iterable[str]) -> dict[str, ScanEntry]:
        """The cached entries of ``paths`` (absolute), whatever their current state."""
        by_folder: dict[str, list[str]] = {}
        for path in paths:
            folder, name = os.path.split(path)
            by_folder.setdefault(folder, []).append(name)
        found: dict[str, ScanEntry] = {}
        for folder, names in by_folder.items():
            files = self._read(folder)
            if not files:
                continue
            for name in names:
                entry = files.get(name)
                if isinstance(entry, list) and len(entry) == 4:
                    found[os.path.join(folder, name)] = ScanEntry(
                        int(entry[0]), int(entry[1]), bool(entry[2]), entry[3]
                    )
        return found

    def save(self, entries: dict[str, ScanEntry]) -> None:
        """Merge ``entries`` (by absolute path) into the cache files of their folders."""
        by_folder: dict[str, dict[str, list]] = {}
        for path, entry in entries.items():
            folder, name = os.path.split(path)
            by_folder.setdefault(folder, {})[name] = [
                entry.size,
                entry.mtime_ns,
                int(entry.decoded),
                entry.problem,
            ]
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for folder, new in by_folder.items():
                self._merge(folder, new)
        except OSError as err:
            self._warn(f"cannot write to {self.root}: {err}")

    def _merge(self, folder: str, new: dict[str, list]) -> None:
        target = self._file(folder)
        with _locked(target.with_suffix(".lock")):
            files = self._read(folder)
            files.update(new)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".tmp", dir=self.root)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump({"version": CACHE_VERSION, "folder": folder, "files": files}, f)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def _warn(self, message: str) -> None:
        if not self._warned:
            logger.warning("image scan cache: %s; the scan is not cached", message)
            self._warned = True
