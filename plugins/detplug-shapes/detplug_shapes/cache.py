"""Where generated datasets live, and generating one atomically.

A split is generated into a temporary folder beside its final place and renamed into place
when complete, so the final folder either does not exist or holds a whole dataset: a crash
or a kill mid-way leaves only a ``.tmp-`` folder, which a later run removes once stale.
Several processes racing (DDP ranks) all generate; the first rename wins and the others
discard their copy.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from detplug_core.errors import DataError

__all__ = ["default_cache_root", "ensure_generated"]

STALE_TMP_SECONDS = 3600.0


def default_cache_root() -> Path:
    """``$DETPLUG_CACHE/shapes`` if set, else ``~/.cache/detplug/shapes``."""
    base = os.environ.get("DETPLUG_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "detplug"
    return root / "shapes"


def _remove_stale_tmp(root: Path, key: str) -> None:
    now = time.time()
    for tmp in root.glob(f".tmp-{key}-*"):
        try:
            if now - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def ensure_generated(root: Path, key: str, marker: str, generate: Callable[[str], None]) -> Path:
    """``root/key``, generating it with ``generate(tmp_dir)`` unless it exists.

    ``marker`` is a file every complete folder holds (checked, never trusted blindly).
    """
    final = root / key
    if final.is_dir():
        if not (final / marker).is_file():
            raise DataError(f"cache folder '{final}' is incomplete (no {marker}); delete it")
        return final
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(root, key)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
    except OSError as err:
        raise DataError(f"cannot create the cache folder '{root}': {err}") from None
    try:
        generate(str(tmp))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        try:
            tmp.rename(final)
        except OSError:
            if not (final / marker).is_file():  # not a lost race: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
