"""The scan before training: find the image files that cannot be decoded when the dataset is
built, not when training reaches them mid-epoch; paid once per file.

* Check: by default a cheap structural one for JPEG and PNG files (a JPEG ends with its EOI
  marker ``FF D9``, a PNG with its ``IEND`` chunk: a truncated file, by far the most common
  bad file, lacks them). A file that fails it, or of another format, is decoded, and only
  the decoder's verdict counts, so the cheap check never refuses a file the loader would
  read. ``scan_images: decode`` decodes every file (finds damage inside complete files too).
* Cache: each result is stored with the file's size and modification time
  (:mod:`~detplug_torchvision.datasets.scan_cache`); a later run, train or val, any rank,
  ``detplug data check``, only checks the files that changed since.
* Parallel: the files left to check are split across DDP ranks (when torch.distributed is
  initialised, every rank takes every world-size-th file and the results are all-gathered);
  each rank decodes its files in one process per usable CPU core (its share of them), while
  the structural check, a few microseconds a file, runs in the rank's own process.

``on_bad_image: error`` (the default) stops with a DataError naming the first bad file and
how many there are; ``skip`` leaves them out and counts them in the dataset's summary line.
``scan_images: false`` turns the scan off; a bad file is then met during training (``error``
stops there; ``skip`` uses the next image).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from detplug_core.errors import DataError
from detplug_torchvision.datasets.errors import SampleError
from detplug_torchvision.datasets.image_io import read_image
from detplug_torchvision.datasets.report import CleanupReport
from detplug_torchvision.datasets.scan_cache import ScanCache, ScanEntry

__all__ = [
    "FileStats",
    "find_bad_images",
    "looks_complete",
    "scan_for_bad_images",
    "stat_files",
]

_REASON = "images skipped: cannot be decoded"
_JPEG_START, _JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"
_PNG_START, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
_CHUNK = 256  # files to decode per job of a worker process


@dataclass(frozen=True)
class FileStats:
    """``os.stat`` of many files: whether each is a regular file, its size and mtime (ns)."""

    is_file: np.ndarray  # bool [N]
    sizes: np.ndarray  # int64 [N]
    mtimes: np.ndarray  # int64 [N]

    @classmethod
    def empty(cls, n: int) -> FileStats:
        return cls(np.zeros(n, bool), np.zeros(n, np.int64), np.zeros(n, np.int64))

    def take(self, rows: np.ndarray) -> FileStats:
        """The stats of the files at ``rows``."""
        return FileStats(self.is_file[rows], self.sizes[rows], self.mtimes[rows])


def _stat_chunk(paths: list[str]) -> tuple[list[bool], list[int], list[int]]:
    is_file: list[bool] = []
    sizes: list[int] = []
    mtimes: list[int] = []
    for path in paths:
        try:
            st = os.stat(path)
            size, mtime, regular = st.st_size, st.st_mtime_ns, st.st_mode & 0o170000 == 0o100000
        except (OSError, ValueError):
            size, mtime, regular = 0, 0, False
        is_file.append(regular)
        sizes.append(size)
        mtimes.append(mtime)
    return is_file, sizes, mtimes


def stat_files(paths: Sequence[str]) -> FileStats:
    """One ``os.stat`` per path (a missing or unreadable path is not a file)."""
    is_file, sizes, mtimes = _stat_chunk(list(paths))
    return FileStats(np.array(is_file, bool), np.array(sizes, np.int64), np.array(mtimes, np.int64))


def looks_complete(path: str, size: int) -> bool:
    """True for a JPEG that ends with its EOI marker or a PNG that ends with its IEND chunk
    (reads 8 bytes at each end); False for anything else, which is then decoded."""
    if size < 16:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            head, tail = os.pread(fd, 8, 0), os.pread(fd, 8, size - 8)
        finally:
            os.close(fd)
    except OSError:
        return False
    if head[:3] == _JPEG_START:
        return tail[-2:] == _JPEG_END
    return head == _PNG_START and tail == _PNG_END


def _decode_problem(path: str, exif_orientation: bool) -> str | None:
    try:
        read_image(path, exif_orientation=exif_orientation)
    except SampleError as err:
        return str(err)
    return None


def _check(
    paths: list[str], sizes: list[int], decode: bool, exif_orientation: bool
) -> list[tuple[bool, str | None]]:
    """(decoded, problem) of each file of one chunk."""
    out: list[tuple[bool, str | None]] = []
    for path, size in zip(paths, sizes, strict=True):
        if not decode and looks_complete(path, size):
            out.append((False, None))
        else:
            out.append((True, _decode_problem(path, exif_orientation)))
    return out


def _call(job: tuple[Callable[..., Any], tuple]) -> Any:
    fn, args = job
    return fn(*args)


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity, as taskset or a cgroup set it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


def _workers() -> int:
    """Processes for a scan: the usable cores, shared by the ranks of this machine."""
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", 1) or 1)
    return max(1, min(usable_cpus() // local_ranks, 32))


def _worker_init() -> None:
    """A scan worker (a forked process of its own) uses one thread: each process decodes one
    file at a time, and torch's threads in every worker would fight over the cores. Its
    collector would walk (and so copy) every object inherited from the parent: they are
    frozen first. Neither touches the parent process."""
    gc.freeze()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _in_processes(fn: Callable[..., Any], chunks: list[tuple]) -> list[Any]:
    """``[fn(*chunk) for chunk in chunks]``, in one forked process per usable core when
    there is more than one chunk and one core (file reads and decoding scale with
    processes, not with threads); in this process where processes cannot be made."""
    workers = _workers()
    if workers < 2 or len(chunks) < 2 or "fork" not in _start_methods():
        return [fn(*chunk) for chunk in chunks]
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            min(workers, len(chunks)), mp_context=context, initializer=_worker_init
        ) as pool:
            return list(pool.map(_call, [(fn, chunk) for chunk in chunks]))
    except (OSError, AssertionError):  # no processes here (a daemonic process, a limit)
        return [fn(*chunk) for chunk in chunks]


def _decode_files(
    paths: list[str], sizes: list[int], exif_orientation: bool
) -> list[tuple[bool, str | None]]:
    chunks = [
        (paths[i : i + _CHUNK], sizes[i : i + _CHUNK], True, exif_orientation)
        for i in range(0, len(paths), _CHUNK)
    ]
    return [result for part in _in_processes(_check, chunks) for result in part]


def _check_files(
    paths: list[str], sizes: list[int], decode: bool, exif_orientation: bool
) -> list[tuple[bool, str | None]]:
    """(decoded, problem) of each file. The structural check (a few microseconds a file)
    runs here; the files to decode (milliseconds each) go to worker processes when there
    are many (:func:`_in_processes`)."""
    if decode:
        return _decode_files(paths, sizes, exif_orientation)
    complete = [looks_complete(p, s) for p, s in zip(paths, sizes, strict=True)]
    doubtful = [i for i, ok in enumerate(complete) if not ok]
    decoded = _decode_files(
        [paths[i] for i in doubtful], [sizes[i] for i in doubtful], exif_orientation
    )
    checked = dict(zip(doubtful, decoded, strict=True))
    return [(False, None) if ok else checked[i] for i, ok in enumerate(complete)]


def _start_methods() -> list[str]:
    return multiprocessing.get_all_start_methods()


def _rank_and_world() -> tuple[int, int]:
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_gather(obj: Any) -> list[Any]:
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def find_bad_images(
    paths: Sequence[str],
    *,
    decode: bool = False,
    exif_orientation: bool = True,
    stats: FileStats | None = None,
    cache: ScanCache | None = None,
    use_cache: bool = True,
    split_across_ranks: bool = True,
) -> dict[int, str]:
    """``{index: problem}`` for the files of ``paths`` the loaders could not decode (a
    missing file included), each checked as the module docstring says.

    ``decode``: decode every file (else the structural check first). ``stats``: the
    :func:`stat_files` of ``paths`` if the caller has them. ``cache``: where results are
    kept (default :class:`ScanCache` under ``$DETPLUG_CACHE``); ``use_cache=False`` neither
    reads nor writes one. Under torch.distributed every rank must call it with the same
    paths (it all-gathers); code that runs on one rank only passes
    ``split_across_ranks=False`` (that rank checks every file)."""
    rank, world = _rank_and_world() if split_across_ranks else (0, 1)
    mine = range(rank, len(paths), world)
    if stats is None:
        stats = FileStats.empty(len(paths))
        mine_stats = stat_files([paths[i] for i in mine])
        for field in ("is_file", "sizes", "mtimes"):
            getattr(stats, field)[rank::world] = getattr(mine_stats, field)
    keys = {i: paths[i] if os.path.isabs(paths[i]) else os.path.abspath(paths[i]) for i in mine}
    is_file, sizes, mtimes = stats.is_file.tolist(), stats.sizes.tolist(), stats.mtimes.tolist()
    cache = (cache or ScanCache()) if use_cache else None
    known = cache.load(keys.values()) if cache is not None else {}
    problems: dict[int, str] = {}
    todo: list[int] = []
    for i in mine:
        if not is_file[i]:
            problems[i] = _decode_problem(paths[i], exif_orientation) or "not a file"
            continue
        entry = known.get(keys[i])
        fresh = entry is not None and (entry.size, entry.mtime_ns) == (sizes[i], mtimes[i])
        if fresh and (entry.decoded or not decode):
            if entry.problem:
                problems[i] = entry.problem
            continue
        todo.append(i)
    results = _check_files(
        [paths[i] for i in todo], [sizes[i] for i in todo], decode, exif_orientation
    )
    new: dict[str, ScanEntry] = {}
    for i, (decoded, problem) in zip(todo, results, strict=True):
        new[keys[i]] = ScanEntry(sizes[i], mtimes[i], decoded, problem)
        if problem:
            problems[i] = problem
    if world > 1:
        gathered = _all_gather((problems, new))
        problems = {i: p for part, _ in gathered for i, p in part.items()}
        new = {k: v for _, part in gathered for k, v in part.items()}
        if int(os.environ.get("LOCAL_RANK", rank)) != 0:
            new = {}  # one writer per machine
    if cache is not None and new:
        cache.save(new)
    return problems


def scan_for_bad_images(
    paths: Sequence[str],
    image_ids: Sequence[int],
    report: CleanupReport,
    on_bad_image: str,
    *,
    exif_orientation: bool,
    decode: bool = False,
    stats: FileStats | None = None,
) -> np.ndarray:
    """The keep mask (bool [N]) of the images at ``paths``: False for those that cannot be
    decoded (``skip``, counted in ``report``); with ``error``, a DataError naming the first
    such file and how many there are."""
    keep = np.ones(len(paths), bool)
    if not len(paths):
        return keep
    bad = find_bad_images(paths, decode=decode, exif_orientation=exif_orientation, stats=stats)
    if not bad:
        return keep
    order = sorted(bad)
    if on_bad_image == "error":
        first = order[0]
        more = f" (and {len(order) - 1} more)" if len(order) > 1 else ""
        raise DataError(
            f"{report.name}: {bad[first]}{more}, image_id {image_ids[first]}; set "
            "on_bad_image: skip to leave such images out"
        )
    for i in order:
        report.add(_REASON, paths[i])
    keep[order] = False
    return keep
