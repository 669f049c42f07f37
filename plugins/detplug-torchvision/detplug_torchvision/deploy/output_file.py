"""Writing an exported file: the destination checked before the slow export, the bytes
written whole or not at all, and a failed write reported in one line.

Files are serialised in memory first and written by Python (``torch.export.save`` writing
to a full disk itself aborts the process from C++), to a temporary file beside the
destination that is then renamed over it, so a failed write never leaves half a model
under the destination's name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from detplug_core.errors import DetplugError


class OutputError(DetplugError):
    """The exported file cannot be written where it was asked to go."""


def check_destination(out: str | os.PathLike, option: str = "--out") -> Path:
    """``out`` as a Path once it is known to be writable: its folder exists (created if
    needed) and takes a new file, or ``out`` is an existing writable non-regular file (a
    device such as ``/dev/null``)."""
    path = Path(out)
    if path.is_dir():
        raise OutputError(f"{option} {out}: is a folder; give the file to write")
    if path.exists() and not path.is_file():
        try:
            with open(path, "ab"):
                pass
        except OSError as err:
            raise OutputError(f"{option} {out}: cannot write to it: {_reason(err)}") from None
        return path
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as err:
        raise OutputError(
            f"{option} {out}: cannot write in the folder {folder}: {_reason(err)}"
        ) from None
    return path


def write_bytes(out: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``out`` whole (temporary file + rename), or raise
    :class:`OutputError` saying why, with nothing left behind."""
    path = Path(out)
    size = f"{len(data) / 2**20:.1f} MiB"
    if path.exists() and not path.is_file():  # a device: no rename possible
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError as err:
            raise OutputError(f"could not write {out} ({size}): {_reason(err)}") from None
        return path
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise OutputError(f"could not write {out} ({size}): {_reason(err)}") from None
    return path


def _reason(err: OSError) -> str:
    return err.strerror or str(err)
