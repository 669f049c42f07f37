"""Datasets at COCO's size: build time, memory of the records, DataLoader worker memory and
the bad-image scan, against pycocotools' ``COCO()`` measured in the same run.

Data: a synthetic COCO JSON of N images (7 boxes each, 80 categories) whose files are hard
links to the real 640x480 BCCD JPEGs (in turn), in ``--workdir`` (default
/tmp/detplug-dataset-scale); the same images as a Pascal VOC and a YOLO data set at the
smaller sizes. Every measurement runs in a fresh process (imports of torch and detplug done
and excluded before the clock starts); RSS is the process's resident set growth.

Goals (issue 25), as ratios in the same run:
* CocoDataset build time at 118,287 images <= 1.5x pycocotools' COCO(); RSS growth <= its;
* DataLoader worker private memory after one pass over all records within +5 MB of before;
* the second run's scan (cache warm) at 118,287 images under 5 s;
* the first scan's wall time falls from 1 to 2 cores (``taskset``).

Run:  python benchmarks/dataset_scale.py [--sizes 5000 20000 118287] [--formats-at 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BCCD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "BCCD"
BOXES_PER_IMAGE = 7
NUM_CLASSES = 80


# -- measuring helpers (run in the child processes) ---------------------------------------
def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def private_mb(pid: int | str = "self") -> float:
    """Private (unshared) memory of a process: pages it wrote or copied."""
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1])
    return total / 1024


# -- data ---------------------------------------------------------------------------------
def make_images(folder: Path, n: int) -> list[str]:
    """``n`` hard links to the BCCD JPEGs (in turn): 000000000001.jpg, ..."""
    sources = sorted((BCCD / "JPEGImages").glob("*.jpg"))
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:012d}.jpg" for i in range(n)]
    for i, name in enumerate(names):
        target = folder / name
        if not target.exists():
            os.link(sources[i % len(sources)], target)
    return names


def make_coco(path: Path, names: list[str]) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    n = len(names)
    xy = rng.uniform(0, 560, (n, BOXES_PER_IMAGE, 2)).round(2)
    wh = rng.uniform(8, 80, (n, BOXES_PER_IMAGE, 2)).round(2)
    cats = rng.integers(1, NUM_CLASSES + 1, (n, BOXES_PER_IMAGE))
    images = [
        {"id": i + 1, "file_name": name, "height": 480, "width": 640}
        for i, name in enumerate(names)
    ]
    anns = []
    for i in range(n):
        for j in range(BOXES_PER_IMAGE):
            x, y = xy[i, j].tolist()
            w, h = wh[i, j].tolist()
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(cats[i, j]),
                    "bbox": [x, y, w, h],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": c, "name": f"class{c}"} for c in range(1, NUM_CLASSES + 1)]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))


def make_voc_and_yolo(root: Path, coco_json: Path, image_dir: Path) -> None:
    """The COCO data as a VOC root and a YOLO data.yaml (image files hard-linked again)."""
    data = json.loads(coco_json.read_text())
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    voc, yolo = root / "voc", root / "yolo"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("images/train", "labels/train"):
        (yolo / sub).mkdir(parents=True, exist_ok=True)
    keys = []
    for im in data["images"]:
        key = Path(im["file_name"]).stem
        keys.append(key)
        for target in (
            voc / "JPEGImages" / im["file_name"],
            yolo / "images/train" / im["file_name"],
        ):
            if not target.exists():
                os.link(image_dir / im["file_name"], target)
        objects, rows = [], []
        for ann in by_image.get(im["id"], []):
            x, y, w, h = ann["bbox"]
            name = f"class{ann['category_id']}"
            objects.append(
                f"<object><name>{name}</name><difficult>0</difficult><bndbox>"
                f"<xmin>{x + 1:.0f}</xmin><ymin>{y + 1:.0f}</ymin><xmax>{x + w:.0f}</xmax>"
                f"<ymax>{y + h:.0f}</ymax></bndbox></object>"
            )
            cx, cy = (x + w / 2) / 640, (y + h / 2) / 480
            rows.append(f"{ann['category_id'] - 1} {cx:.6f} {cy:.6f} {w / 640:.6f} {h / 480:.6f}")
        (voc / "Annotations" / f"{key}.xml").write_text(
            f"<annotation><filename>{im['file_name']}</filename><size><width>640</width>"
            f"<height>480</height><depth>3</depth></size>{''.join(objects)}</annotation>"
        )
        (yolo / "labels/train" / f"{key}.txt").write_text("\n".join(rows) + "\n")
    (voc / "ImageSets/Main/trainval.txt").write_text("\n".join(keys) + "\n")
    names = "\n".join(f"  {c - 1}: class{c}" for c in range(1, NUM_CLASSES + 1))
    (yolo / "data.yaml").write_text(
        f"path: {yolo}\ntrain: images/train\nval: images/train\nnames:\n{names}\n"
    )


# -- children -----------------------------------------------------------------------------
def child_pycocotools(ann: str) -> dict:
    from pycocotools.coco import COCO

    before = rss_mb()
    start = time.perf_counter()
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(ann)
    seconds = time.perf_counter() - start
    return {"build_s": seconds, "rss_mb": rss_mb() - before, "images": len(coco.imgs)}


def _build(fmt: str, root: str, scan: bool):
    if fmt == "coco":
        from detplug_coco.dataset import CocoDataset

        return lambda: CocoDataset(f"{root}/coco.json", f"{root}/images", scan_images=scan)
    if fmt == "voc":
        from detplug_voc.dataset import VOCDataset

        classes = [f"class{c}" for c in range(1, NUM_CLASSES + 1)]
        return lambda: VOCDataset(f"{root}/voc", classes=classes, scan_images=scan)
    from detplug_yolo_format.dataset import YoloDataset

    return lambda: YoloDataset(f"{root}/yolo/data.yaml", scan_images=scan)


def child_build(fmt: str, root: str) -> dict:
    import logging

    import torch  # noqa: F401  (imports excluded from the clock)

    logging.getLogger("detplug.data").setLevel(logging.ERROR)
    build = _build(fmt, root, scan=False)
    before = rss_mb()
    start = time.perf_counter()
    ds = build()
    seconds = time.perf_counter() - start
    return {
        "build_s": seconds,
        "rss_mb": rss_mb() - before,
        "records_mb": ds.records.nbytes / 2**20,
        "images": len(ds),
    }


def child_scan(fmt: str, root: str, decode: bool = False) -> dict:
    """The scan alone (``find_bad_images`` over the dataset's files), as the dataset runs it
    (``decode``: as ``scan_images: decode`` runs it)."""
    import logging

    from detplug_torchvision.datasets.scan import find_bad_images, usable_cpus

    logging.getLogger("detplug.data").setLevel(logging.ERROR)
    ds = _build(fmt, root, scan=False)()
    paths = [ds.records.paths[i] for i in range(len(ds))]
    start = time.perf_counter()
    bad = find_bad_images(paths, decode=decode)
    return {"scan_s": time.perf_counter() - start, "bad": len(bad), "cores": usable_cpus()}


class RecordPass:
    """Item k reads records k*chunk .. (k+1)*chunk-1 the way a loader does (path, sizes,
    boxes) and reports the worker's private memory before and after."""

    def __init__(self, records, chunk: int) -> None:
        self.records, self.chunk = records, chunk

    def __len__(self) -> int:
        return -(-len(self.records) // self.chunk)

    def __getitem__(self, k: int):
        before = private_mb()
        total = 0
        for i in range(k * self.chunk, min(len(self.records), (k + 1) * self.chunk)):
            rec = self.records[i]
            total += len(rec.path) + len(rec.boxes) + rec.height
        return os.getpid(), before, private_mb(), total


def child_workers(fmt: str, root: str, as_list: bool) -> dict:
    import logging

    from torch.utils.data import DataLoader

    logging.getLogger("detplug.data").setLevel(logging.ERROR)
    ds = _build(fmt, root, scan=False)()
    records = list(ds.records) if as_list else ds.records
    loader = DataLoader(
        RecordPass(records, 1000), batch_size=None, num_workers=2, persistent_workers=False
    )
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for pid, before, after, _ in loader:
        first.setdefault(pid, before)
        last[pid] = after
    return {"workers": [[first[p], last[p]] for p in sorted(first)]}


# -- parent -------------------------------------------------------------------------------
def run_child(*args: str, cores: str | None = None, env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "_child", *args]
    if cores is not None:
        cmd = ["taskset", "-c", cores, *cmd]
    out = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare(workdir: Path, n: int, formats: bool) -> Path:
    root = workdir / f"n{n}"
    images = workdir / "images"
    names = make_images(images, n)
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "images").exists():
        (root / "images").symlink_to(images)
    if not (root / "coco.json").exists():
        make_coco(root / "coco.json", names)
    if formats and not (root / "yolo" / "data.yaml").exists():
        make_voc_and_yolo(root, root / "coco.json", images)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 118287])
    parser.add_argument("--formats-at", type=int, nargs="*", default=[5000])
    parser.add_argument("--workdir", default="/tmp/detplug-dataset-scale")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scan-only", action="store_true", help="only the scan measurements")
    parser.add_argument(
        "--decode-scan", action="store_true", help="also time a first scan with full decoding"
    )
    args = parser.parse_args()
    workdir = Path(args.workdir)
    print(f"{'N':>7} {'format':<6} {'pycoco s':>8} {'build s':>8} {'ratio':>6} "
          f"{'pycoco MB':>9} {'RSS MB':>7} {'records MB':>10}  worker MB before->after "
          "(records / list of ImageRecord)")  # fmt: skip
    for n in args.sizes:
        root = prepare(workdir, n, n in args.formats_at)
        refs, builds = [], {}
        formats = ("coco", "voc", "yolo") if n in args.formats_at else ("coco",)
        for _ in range(0 if args.scan_only else args.repeats):  # alternating, best counts
            refs.append(run_child("pycocotools", str(root / "coco.json")))
            for fmt in formats:
                try:
                    builds.setdefault(fmt, []).append(run_child("build", fmt, str(root)))
                except RuntimeError as err:
                    print(f"{n:>7} {fmt:<6} failed: {str(err).strip().splitlines()[-1]}")
        for fmt, runs in builds.items():
            ref = min(refs, key=lambda r: r["build_s"])
            ours = min(runs, key=lambda r: r["build_s"])
            workers = run_child("workers", fmt, str(root), "store")["workers"]
            as_list = run_child("workers", fmt, str(root), "list")["workers"]
            shown = ", ".join(f"{a:.1f}->{b:.1f}" for a, b in workers)
            listed = ", ".join(f"{a:.1f}->{b:.1f}" for a, b in as_list)
            print(
                f"{n:>7} {fmt:<6} {ref['build_s']:>8.2f} {ours['build_s']:>8.2f} "
                f"{ours['build_s'] / ref['build_s']:>6.2f} {ref['rss_mb']:>9.0f} "
                f"{ours['rss_mb']:>7.0f} {ours['records_mb']:>10.1f}  {shown}  ({listed})",
                flush=True,
            )
        cache = workdir / f"cache-{n}"
        times = {}
        for cores in ("0", "0,1"):
            shutil.rmtree(cache, ignore_errors=True)
            env = {"DETPLUG_CACHE": str(cache)}
            times[cores] = run_child("scan", "coco", str(root), cores=cores, env=env)
        second = run_child("scan", "coco", str(root), env={"DETPLUG_CACHE": str(cache)})
        one, two = times["0"]["scan_s"], times["0,1"]["scan_s"]
        print(
            f"{n:>7} scan: first run {one:.2f} s on 1 core, {two:.2f} s on 2 cores "
            f"({two / one:.2f}x); second run {second['scan_s']:.2f} s; bad files found: "
            f"{second['bad']}",
            flush=True,
        )
        if args.decode_scan:
            decoded = {}
            for cores in ("0", "0,1"):
                shutil.rmtree(cache, ignore_errors=True)
                env = {"DETPLUG_CACHE": str(cache)}
                decoded[cores] = run_child("scan-decode", "coco", str(root), cores=cores, env=env)
            one, two = decoded["0"]["scan_s"], decoded["0,1"]["scan_s"]
            print(
                f"{n:>7} scan_images: decode, first run: {one:.2f} s on 1 core, {two:.2f} s on "
                f"2 cores ({two / one:.2f}x)",
                flush=True,
            )


def child_main(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "pycocotools":
        result = child_pycocotools(rest[0])
    elif kind == "build":
        result = child_build(rest[0], rest[1])
    elif kind == "scan":
        result = child_scan(rest[0], rest[1])
    elif kind == "scan-decode":
        result = child_scan(rest[0], rest[1], decode=True)
    else:
        result = child_workers(rest[0], rest[1], rest[2] == "list")
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child_main(sys.argv[2:])
    else:
        main()
