"""The bad-image scan paid once (issue 25): the cache by path, size and mtime, the cheap
structural check against full decoding, the parallel first scan."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from detplug_coco.dataset import CocoDataset
from detplug_torchvision.datasets import ScanCache, find_bad_images
from detplug_torchvision.datasets import scan as scan_module
from detplug_torchvision.datasets.scan import looks_complete
from PIL import Image

from detplug_core.errors import DataError

BCCD = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "BCCD" / "JPEGImages"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DETPLUG_CACHE", str(tmp_path / "cache"))


def _photos(folder: Path, n: int) -> list[str]:
    """``n`` real photos (BCCD JPEGs, or generated ones if BCCD is not there)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(BCCD.glob("*.jpg"))[:n]
    paths = []
    for i in range(n):
        target = folder / f"{i}.jpg"
        if i < len(sources):
            shutil.copyfile(sources[i], target)
        else:
            rng = np.random.default_rng(i)
            Image.fromarray(rng.integers(0, 256, (48, 64, 3), np.uint8)).save(target)
        paths.append(str(target))
    return paths


def _truncate(path: str, keep: float = 0.6) -> None:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])


def _coco(tmp_path: Path, paths: list[str]) -> str:
    sizes = [Image.open(p).size for p in paths]
    images = [
        {"id": i + 1, "file_name": os.path.basename(p), "height": h, "width": w}
        for i, (p, (w, h)) in enumerate(zip(paths, sizes, strict=True))
    ]
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    return str(ann)


def test_the_cheap_check_finds_what_decoding_finds(tmp_path):
    paths = _photos(tmp_path / "img", 12)
    _truncate(paths[3])
    _truncate(paths[7], keep=0.98)
    Path(paths[9]).write_bytes(Path(paths[9]).read_bytes() + b"trailing bytes after EOI")
    png = tmp_path / "img" / "cut.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8) + 7).save(png)
    _truncate(str(png))
    paths.append(str(png))
    assert not looks_complete(paths[3], os.path.getsize(paths[3]))
    assert looks_complete(paths[0], os.path.getsize(paths[0]))
    cheap = find_bad_images(paths, use_cache=False)
    full = find_bad_images(paths, decode=True, use_cache=False)
    assert sorted(cheap) == sorted(full) == [3, 7, 12]  # 9 decodes: not a false alarm
    assert cheap == full  # the same messages: the decoder's


def test_a_second_scan_reads_the_cache_and_a_changed_file_is_scanned_again(tmp_path, monkeypatch):
    paths = _photos(tmp_path / "img", 6)
    ann = _coco(tmp_path, paths)
    CocoDataset(ann, str(tmp_path / "img"))
    assert list((tmp_path / "cache" / "image-scan").glob("*.json"))

    checked: list[list[str]] = []
    real = scan_module._check_files

    def counting(files, *args):
        checked.append(list(files))
        return real(files, *args)

    monkeypatch.setattr(scan_module, "_check_files", counting)
    CocoDataset(ann, str(tmp_path / "img"))  # everything from the cache
    assert checked == [[]]
    _truncate(paths[2])  # changed: other size and mtime
    with pytest.raises(DataError, match=r"cannot decode image file '.*2\.jpg'.*image_id 3"):
        CocoDataset(ann, str(tmp_path / "img"))
    assert checked[-1] == [paths[2]]
    # the bad verdict is cached too: skip leaves it out without decoding again
    ds = CocoDataset(ann, str(tmp_path / "img"), on_bad_image="skip")
    assert checked[-1] == [] and len(ds) == 5
    # a full-decode scan does not trust structural results
    CocoDataset(ann, str(tmp_path / "img"), on_bad_image="skip", scan_images="decode")
    assert sorted(checked[-1]) == sorted(p for i, p in enumerate(paths) if i != 2)


def test_a_file_deleted_since_the_last_scan_is_reported(tmp_path):
    paths = _photos(tmp_path / "img", 4)
    assert find_bad_images(paths) == {}
    os.unlink(paths[1])
    problems = find_bad_images(paths)
    assert list(problems) == [1] and "cannot read image file" in problems[1]
    assert "0.jpg" not in json.dumps(problems)


def test_the_cache_keys_on_size_and_mtime(tmp_path):
    cache = ScanCache(tmp_path / "c")
    paths = _photos(tmp_path / "img", 2)
    find_bad_images(paths, cache=cache)
    entry = cache.load([paths[0]])[paths[0]]
    assert (entry.size, entry.problem) == (os.path.getsize(paths[0]), None)
    st = os.stat(paths[0])
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _truncate(paths[0], keep=1.0)  # same bytes, new mtime: checked again, still good
    assert find_bad_images(paths, cache=cache) == {}
    assert cache.load([paths[0]])[paths[0]].mtime_ns == os.stat(paths[0]).st_mtime_ns


def test_many_files_to_decode_go_to_worker_processes(tmp_path, monkeypatch):
    folder = tmp_path / "many"
    folder.mkdir()
    good = folder / "a.png"
    Image.new("RGB", (4, 4)).save(good)
    paths = []
    for i in range(300):
        os.link(good, folder / f"{i}.png")
        paths.append(str(folder / f"{i}.png"))
    (folder / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    paths.append(str(folder / "cut.jpg"))
    monkeypatch.setattr(scan_module, "usable_cpus", lambda: 2)
    monkeypatch.setattr(scan_module, "_CHUNK", 64)  # 5 jobs for 2 worker processes
    log = tmp_path / "pids.txt"
    real = scan_module._decode_problem

    def recording(path, exif_orientation):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return real(path, exif_orientation)

    monkeypatch.setattr(scan_module, "_decode_problem", recording)  # forked workers inherit it
    sizes = [os.path.getsize(p) for p in paths]
    result = scan_module._check_files(paths, sizes, True, True)
    assert [i for i, (_, problem) in enumerate(result) if problem] == [300]
    pids = set(log.read_text().split())
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 2


def _rank_scan(rank: int, port: int, paths: list[str], out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    checked: list[str] = []
    real = scan_module._check_files

    def counting(files, *args):
        checked.extend(files)
        return real(files, *args)

    scan_module._check_files = counting
    problems = find_bad_images(paths)
    result = {"problems": problems, "checked": list(checked)}
    if rank == 0:  # code on one rank only: no collective, every file checked there
        result["alone"] = find_bad_images(paths, use_cache=False, split_across_ranks=False)
    Path(f"{out}.{rank}").write_text(json.dumps(result))
    dist.destroy_process_group()


def test_ranks_share_the_first_scan(tmp_path):
    import socket

    import torch.multiprocessing as mp

    paths = _photos(tmp_path / "img", 6)
    _truncate(paths[3])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "rank")
    mp.start_processes(_rank_scan, args=(port, paths, out), nprocs=2, start_method="fork")
    results = [json.loads(Path(f"{out}.{r}").read_text()) for r in (0, 1)]
    assert results[0]["problems"] == results[1]["problems"] and list(results[0]["problems"]) == [
        "3"
    ]
    assert sorted(results[0]["checked"] + results[1]["checked"]) == sorted(paths)  # each file once
    assert results[0]["checked"] == paths[0::2] and results[1]["checked"] == paths[1::2]
    assert len(ScanCache().load(paths)) == 6  # both halves cached
    assert results[0]["alone"] == results[0]["problems"]
