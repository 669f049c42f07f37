"""CocoDataset with masks at COCO's size: build time and memory with and without
``with_masks``, and loading one image's masks, against pycocotools measured in the same run.

Data: a synthetic COCO JSON of N images (7 annotations each, 80 categories) whose
annotations carry a polygon of ``--points`` points (COCO train2017 averages about 24) and,
for 1 in 100, a crowd region as uncompressed RLE (COCO's crowd form); the image files are
dataset_scale.py's hard links to the BCCD JPEGs (640x480), made there if missing. Every
measurement runs in a fresh process (imports done before the clock starts), alternating.

Measured:
* build: ``CocoDataset(with_masks=False)`` (the columnar reader, as before) and
  ``with_masks=True``; pycocotools' ``COCO()`` on the same file as the reference;
* memory: RSS growth over the build, bytes of the records and of the segmentations;
* masks: ``load_masks`` for the first 500 images against ``COCO.annToMask`` of the same
  annotations (stacked), per image.

Run:  python benchmarks/coco_masks_scale.py [--sizes 20000 118287] [--points 24]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataset_scale import BOXES_PER_IMAGE, NUM_CLASSES, make_images, rss_mb  # noqa: E402

H, W = 480, 640


def rectangle_runs(x0: int, y0: int, x1: int, y1: int) -> list[int]:
    """Uncompressed RLE runs (column-major, background first) of a filled rectangle."""
    inside = y1 - y0
    runs = [x0 * H + y0, inside]
    for _ in range(x0 + 1, x1):
        runs += [H - inside, inside]
    runs.append(H * W - sum(runs))
    return runs


def make_coco_masks(path: Path, names: list[str], points: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    n = len(names)
    centre = rng.uniform(60, 420, (n, BOXES_PER_IMAGE, 2))
    radius = rng.uniform(6, 50, (n, BOXES_PER_IMAGE, 2))
    cats = rng.integers(1, NUM_CLASSES + 1, (n, BOXES_PER_IMAGE))
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    wobble = rng.uniform(0.7, 1.0, (n, BOXES_PER_IMAGE, points))
    images = [{"id": i + 1, "file_name": nm, "height": H, "width": W} for i, nm in enumerate(names)]
    anns = []
    for i in range(n):
        for j in range(BOXES_PER_IMAGE):
            (cx, cy), (rx, ry) = centre[i, j], radius[i, j]
            xs = (cx + rx * wobble[i, j] * np.cos(angles)).round(2)
            ys = (cy + ry * wobble[i, j] * np.sin(angles)).round(2)
            box = [float(xs.min()), float(ys.min()), float(np.ptp(xs)), float(np.ptp(ys))]
            crowd = len(anns) % 100 == 99
            if crowd:
                x0, y0 = int(box[0]), int(box[1])
                x1, y1 = x0 + max(int(box[2]), 1), y0 + max(int(box[3]), 1)
                segmentation = {"size": [H, W], "counts": rectangle_runs(x0, y0, x1, y1)}
            else:
                segmentation = [np.stack([xs, ys], 1).reshape(-1).tolist()]
            anns.append({
                "id": len(anns) + 1, "image_id": i + 1, "category_id": int(cats[i, j]),
                "bbox": box, "area": box[2] * box[3], "iscrowd": int(crowd),
                "segmentation": segmentation,
            })  # fmt: skip
    categories = [{"id": c, "name": f"class{c}"} for c in range(1, NUM_CLASSES + 1)]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))


# -- children -----------------------------------------------------------------------------
def quiet_coco(ann: str):
    import contextlib
    import io

    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(ann)


def child_pycocotools(ann: str) -> dict:
    import pycocotools.coco  # noqa: F401

    before = rss_mb()
    start = time.perf_counter()
    coco = quiet_coco(ann)
    return {"build_s": time.perf_counter() - start, "rss_mb": rss_mb() - before,
            "images": len(coco.imgs)}  # fmt: skip


def child_build(ann: str, images: str, with_masks: str) -> dict:
    import logging

    import torch  # noqa: F401  (imports excluded from the clock)
    from detplug_coco.dataset import CocoDataset

    logging.getLogger("detplug.data").setLevel(logging.ERROR)
    before = rss_mb()
    start = time.perf_counter()
    ds = CocoDataset(ann, images, scan_images=False, with_masks=with_masks == "1")
    seconds = time.perf_counter() - start
    segments = ds._segments.nbytes / 2**20 if ds._segments is not None else 0.0
    return {"build_s": seconds, "rss_mb": rss_mb() - before, "images": len(ds),
            "records_mb": ds.records.nbytes / 2**20, "segments_mb": segments}  # fmt: skip


def child_masks(ann: str, images: str, count: str) -> dict:
    import logging

    import numpy as np
    from detplug_coco.dataset import CocoDataset

    logging.getLogger("detplug.data").setLevel(logging.ERROR)
    ds = CocoDataset(ann, images, scan_images=False, with_masks=True)
    coco = quiet_coco(ann)
    n = int(count)
    by_image: dict[int, list] = {}
    for a in coco.dataset["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    records = [ds.records[i] for i in range(n)]
    detplug_s, pycoco_s = [], []
    for _ in range(3):  # alternating; the fastest pass of each counts
        start = time.perf_counter()
        ours = [ds.load_masks(i, rec) for i, rec in enumerate(records)]
        detplug_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        ref = [np.stack([coco.annToMask(a) for a in by_image[rec.image_id]]) for rec in records]
        pycoco_s.append(time.perf_counter() - start)
    same = all(np.array_equal(a, b) for a, b in zip(ours, ref, strict=True))
    detplug_s, pycoco_s = min(detplug_s), min(pycoco_s)
    return {"detplug_ms": 1000 * detplug_s / n, "pycoco_ms": 1000 * pycoco_s / n, "same": same}


# -- parent -------------------------------------------------------------------------------
def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "_child", *args], capture_output=True,
                         text=True, check=False)  # fmt: skip
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 118287])
    parser.add_argument("--points", type=int, default=24)
    parser.add_argument("--workdir", default="/tmp/detplug-dataset-scale")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    print(f"{'N':>7} {'pycoco s':>8} {'boxes s':>8} {'masks s':>8} {'masks/pycoco':>12} "
          f"{'pycoco MB':>9} {'boxes MB':>8} {'masks MB':>8} {'records MB':>10} "
          f"{'segments MB':>11}")  # fmt: skip
    for n in args.sizes:
        names = make_images(workdir / "images", n)
        root = workdir / f"masks-n{n}-p{args.points}"
        root.mkdir(parents=True, exist_ok=True)
        ann = root / "coco_masks.json"
        if not ann.exists():
            make_coco_masks(ann, names, args.points)
        images = str(workdir / "images")
        runs: dict[str, list[dict]] = {"ref": [], "0": [], "1": []}
        for _ in range(args.repeats):  # alternating; the fastest of each counts
            runs["ref"].append(run_child("pycocotools", str(ann)))
            runs["0"].append(run_child("build", str(ann), images, "0"))
            runs["1"].append(run_child("build", str(ann), images, "1"))
        ref, boxes, masks = (min(runs[k], key=lambda r: r["build_s"]) for k in ("ref", "0", "1"))
        print(
            f"{n:>7} {ref['build_s']:>8.2f} {boxes['build_s']:>8.2f} {masks['build_s']:>8.2f} "
            f"{masks['build_s'] / ref['build_s']:>12.2f} {ref['rss_mb']:>9.0f} "
            f"{boxes['rss_mb']:>8.0f} {masks['rss_mb']:>8.0f} {masks['records_mb']:>10.1f} "
            f"{masks['segments_mb']:>11.1f}",
            flush=True,
        )
        loaded = run_child("masks", str(ann), images, "500")
        print(
            f"{n:>7} masks of one image (first 500): load_masks {loaded['detplug_ms']:.2f} ms, "
            f"COCO.annToMask {loaded['pycoco_ms']:.2f} ms, identical: {loaded['same']}",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        kind, rest = sys.argv[2], sys.argv[3:]
        result = {"pycocotools": child_pycocotools, "build": child_build,
                  "masks": child_masks}[kind](*rest)  # fmt: skip
        print(json.dumps(result))
    else:
        main()
