"""The scan before training: decode every image once, so that one truncated or corrupt
file is found when the dataset is built, not when training reaches it mid-epoch.

``on_bad_image: error`` (the default) stops with a DataError naming the first bad file and
how many there are; ``skip`` leaves them out and counts them in the dataset's summary line.
Datasets too large to decode twice turn the scan off with ``scan_images: false``; a bad file
is then met during training (``error`` stops there; ``skip`` uses the next image).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from detplug_core.errors import DataError
from detplug_torchvision.datasets.errors import SampleError
from detplug_torchvision.datasets.image_io import read_image
from detplug_torchvision.datasets.report import CleanupReport

_REASON = "images skipped: cannot be decoded"


def _problem(path: str, exif_orientation: bool) -> str | None:
    try:
        read_image(path, exif_orientation=exif_orientation)
    except SampleError as err:
        return str(err)
    return None


def scan_for_bad_images(
    records: Sequence[Any], report: CleanupReport, on_bad_image: str, *, exif_orientation: bool
) -> list[Any]:
    """``records`` without those whose image cannot be decoded (``skip``), or a DataError
    naming the first such file (``error``). Decoding runs in a few threads (the decoders
    release the GIL)."""
    if not records:
        return []
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        problems = list(pool.map(lambda r: _problem(r.path, exif_orientation), records))
    bad = [(rec, text) for rec, text in zip(records, problems, strict=True) if text]
    if not bad:
        return list(records)
    if on_bad_image == "error":
        rec, text = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(
            f"{report.name}: {text}{more}, image_id {rec.image_id}; set on_bad_image: skip to "
            "leave such images out"
        )
    for rec, _ in bad:
        report.add(_REASON, rec.path)
    bad_ids = {id(rec) for rec, _ in bad}
    return [rec for rec in records if id(rec) not in bad_ids]
