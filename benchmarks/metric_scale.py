"""CocoMetric at COCO val's size: ``compute()`` with the array COCOeval (the default) against
pycocotools' COCOeval (``backend: pycocotools``) on the same updates, in the same run; every
stat must be identical.

Data: N images of 640x480 with 0..14 ground-truth boxes of 80 classes (5% crowd) and 100
detections each (jittered copies of the ground truth at varied IoU, wrong classes, random
boxes; scores rounded to 3 digits, so ties happen), fed as torch tensors through
``update()`` in batches of 8, as the runner does. Goal (issue 25): compute at most 0.3x
COCOeval's time at 5,000 images x 100 detections, identical stats (also at 500 images).
VOCMetric's time on the same data is printed too (it is array code already).

Run:  python benchmarks/metric_scale.py [--images 500 5000] [--dets 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from detplug_coco.metric import CocoMetric
from detplug_voc.metric import VOCMetric


def make_batches(n_images: int, n_dets: int, seed: int = 0) -> list[tuple[list, list]]:
    rng = np.random.default_rng(seed)
    batches, preds, targets = [], [], []
    for i in range(n_images):
        n_gt = int(rng.integers(0, 15))
        xy = rng.uniform(0, 560, (n_gt, 2))
        wh = np.exp(rng.uniform(np.log(4), np.log(300), (n_gt, 2)))
        gt = np.concatenate([xy, xy + wh], 1).clip(0, [640, 480, 640, 480])
        gt_labels = rng.integers(0, 80, n_gt)
        n_copy = min(n_dets, 3 * n_gt)
        copies = rng.integers(0, max(n_gt, 1), n_copy)
        det_copy = gt[copies] + rng.normal(0, 6, (n_copy, 4)) if n_gt else np.zeros((0, 4))
        xy = rng.uniform(0, 560, (n_dets - n_copy, 2))
        wh = np.exp(rng.uniform(np.log(4), np.log(300), (n_dets - n_copy, 2)))
        det = np.concatenate([det_copy, np.concatenate([xy, xy + wh], 1)])
        labels = np.concatenate(
            [
                np.where(rng.random(n_copy) < 0.1, rng.integers(0, 80, n_copy), gt_labels[copies])
                if n_gt
                else np.zeros(0, np.int64),
                rng.integers(0, 80, n_dets - n_copy),
            ]
        )
        preds.append(
            {
                "boxes": torch.tensor(det, dtype=torch.float32),
                "scores": torch.tensor(np.round(rng.random(n_dets), 3), dtype=torch.float32),
                "labels": torch.tensor(labels, dtype=torch.int64),
            }
        )
        targets.append(
            {
                "boxes": torch.tensor(gt, dtype=torch.float32),
                "labels": torch.tensor(gt_labels, dtype=torch.int64),
                "ignore": torch.tensor(rng.random(n_gt) < 0.05),
                "image_id": i + 1,
                "orig_size": (480, 640),
            }
        )
        if len(preds) == 8 or i == n_images - 1:
            batches.append((preds, targets))
            preds, targets = [], []
    return batches


def timed(backend: str, batches: list) -> tuple[float, float, dict, CocoMetric]:
    metric = CocoMetric([f"class{i}" for i in range(80)], backend=backend)
    start = time.perf_counter()
    for preds, targets in batches:
        metric.update(preds, targets)
    updated = time.perf_counter()
    stats = metric.compute()
    return updated - start, time.perf_counter() - updated, stats, metric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--dets", type=int, default=100)
    args = parser.parse_args()
    print(f"{'images':>6} {'dets':>7} {'update s':>8} {'compute s':>9} {'COCOeval s':>10} "
          f"{'ratio':>6}  identical stats / per-class rows")  # fmt: skip
    for n in args.images:
        batches = make_batches(n, args.dets)
        up, ours_s, ours, metric = timed("vectorized", batches)
        _, ref_s, ref, ref_metric = timed("pycocotools", batches)
        same = list(ours.values()) == list(ref.values())
        same_rows = metric.per_class() == ref_metric.per_class()
        print(
            f"{n:>6} {n * args.dets:>7} {up:>8.2f} {ours_s:>9.2f} {ref_s:>10.2f} "
            f"{ours_s / ref_s:>6.3f}  {same} / {same_rows}  (mAP {ours['mAP']:.6f})",
            flush=True,
        )
        voc = VOCMetric([f"class{i}" for i in range(80)])
        start = time.perf_counter()
        for preds, targets in batches:
            voc.update(preds, targets)
        updated = time.perf_counter()
        voc.compute()
        print(
            f"{n:>6} VOCMetric (same data): update {updated - start:.2f} s, compute "
            f"{time.perf_counter() - updated:.2f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
