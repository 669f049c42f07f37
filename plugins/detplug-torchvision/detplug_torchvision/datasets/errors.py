"""``SampleError``: a DataError raised while loading one sample, worker-proof.

A DataLoader worker's exception is re-created in the main process as
``type(err)("Caught ... in DataLoader worker process N.\\nOriginal Traceback ...")``: the
message would arrive buried in a worker traceback. ``SampleError`` recognises that form and
keeps only its own one-line message, plus which worker raised it.
"""

from __future__ import annotations

from detplug_core.errors import DataError

__all__ = ["SampleError"]


class SampleError(DataError):
    """A sample could not be loaded (the message names the file and the sample)."""

    def __init__(self, message: str) -> None:
        super().__init__(_unwrap_worker_message(message, type(self)))


def _unwrap_worker_message(message: str, cls: type) -> str:
    if not (message.startswith("Caught ") and "\nOriginal Traceback" in message):
        return message
    marker = f"{cls.__module__}.{cls.__qualname__}: "
    head, found, original = message.rstrip("\n").rpartition(marker)
    if not found:
        return message
    where = head.split(".\n", 1)[0].removeprefix(f"Caught {cls.__name__} ")
    return f"{original} ({where})"
