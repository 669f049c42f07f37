"""CocoMetric with ``iou_type: segm`` at scale: ``compute()`` with the array COCOeval (the
default) against pycocotools' ``COCOeval(iouType="segm")`` (``backend: pycocotools``) on the
same updates, in the same run (every stat must be identical), and the cost of ``prepare``
(probability masks of a whole image -> RLE), which the evaluator pays once per image.

Data: N images of 640x480 with 7 ground-truth masks of 5 classes (rectangles of 8..300 px a
side, 5% crowd) and 100 detections each (20 shifted copies of the ground truth, 80 random
rectangles), already as RLE (``masks_rle``, what ``prepare`` leaves) for ``compute``; one
image's 100 float masks for ``prepare``.

Run:  OMP_NUM_THREADS=1 python benchmarks/metric_segm.py [--images 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from detplug_coco.metric import CocoMetric
from pycocotools import mask as mask_utils

H, W, N_GT, N_DET, N_CLASSES = 480, 640, 7, 100, 5


def _rect(rng: np.random.Generator, size: np.ndarray) -> np.ndarray:
    h, w = int(size[0]), int(size[1])
    mask = np.zeros((H, W), np.uint8)
    y, x = int(rng.integers(0, H - h)), int(rng.integers(0, W - w))
    mask[y : y + h, x : x + w] = 1
    return mask


def _rles(masks: np.ndarray) -> list[dict]:
    encoded = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0)))
    return [{"size": e["size"], "counts": e["counts"].decode()} for e in encoded]


def _xyxy(rles: list[dict]) -> torch.Tensor:
    boxes = torch.tensor(mask_utils.toBbox(rles)).float().reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def make_images(n_images: int, seed: int = 0) -> tuple[list, tuple]:
    """Per image ([prediction], [target]) with ``masks_rle``; and one image with dense masks."""
    rng = np.random.default_rng(seed)
    sizes = lambda n: np.exp(rng.uniform(np.log(8), np.log(300), (n, 2))).astype(int)  # noqa: E731
    images, dense = [], None
    for i in range(n_images):
        gt = np.stack([_rect(rng, s) for s in sizes(N_GT)])
        shifted = [np.roll(gt[d % N_GT], rng.integers(-3, 4, 2), (0, 1)) for d in range(20)]
        dt = np.stack([*shifted, *(_rect(rng, s) for s in sizes(N_DET - 20))])
        gt_rles, dt_rles = _rles(gt), _rles(dt)
        pred = {
            "boxes": _xyxy(dt_rles),
            "scores": torch.from_numpy(rng.random(N_DET)).float(),
            "labels": torch.from_numpy(rng.integers(0, N_CLASSES, N_DET)),
        }
        target = {
            "boxes": _xyxy(gt_rles),
            "labels": torch.from_numpy(rng.integers(0, N_CLASSES, N_GT)),
            "ignore": torch.from_numpy(rng.random(N_GT) < 0.05),
            "image_id": i,
            "orig_size": (H, W),
        }
        if dense is None:
            dense = (
                {**pred, "masks": torch.from_numpy(dt).float()[:, None] * 0.9},
                {**target, "masks": torch.from_numpy(gt)},
            )
        images.append(([{**pred, "masks_rle": dt_rles}], [{**target, "masks_rle": gt_rles}]))
    return images, dense


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    images, (pred, target) = make_images(args.images)
    classes = [str(c) for c in range(N_CLASSES)]
    metric = CocoMetric(classes, iou_type="segm")
    start = time.perf_counter()
    for _ in range(5):
        metric.prepare([pred], [target])
    per_image = (time.perf_counter() - start) / 5
    print(f"prepare: {per_image * 1000:.0f} ms per image ({N_DET} masks of {W}x{H})")
    results, seconds = {}, {}
    for backend in ("vectorized", "pycocotools"):
        metric = CocoMetric(classes, iou_type="segm", backend=backend)
        for preds, targets in images:
            metric.update(preds, targets)
        start = time.perf_counter()
        results[backend] = metric.compute()
        seconds[backend] = time.perf_counter() - start
        print(f"{backend:>11}: compute {seconds[backend]:.2f} s")
    ratio = seconds["vectorized"] / seconds["pycocotools"]
    same = results["vectorized"] == results["pycocotools"]
    print(f"{args.images} images: vectorized / COCOeval = {ratio:.3f}x, identical stats: {same}")


if __name__ == "__main__":
    main()
