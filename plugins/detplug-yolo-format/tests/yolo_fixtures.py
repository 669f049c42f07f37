"""Building small YOLO-layout data sets on disk for the tests (nothing is shipped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from PIL import Image

NAMES = ["circle", "square"]


def write_image(path: Path, width: int = 64, height: int = 48, boxes=(), seed: int = 0) -> Path:
    """A noisy image with filled rectangles at ``boxes`` (xyxy pixels); format by suffix."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        pixels[int(y1) : int(y2), int(x1) : int(x2)] = (200, 80 + 60 * i % 150, 40)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".png": "PNG"}.get(path.suffix.lower(), "JPEG")
    Image.fromarray(pixels).save(path, format=fmt, quality=95)
    return path


def yolo_row(cls: int, box, width: int, height: int) -> str:
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    return f"{cls} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"


def write_labels(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r + "\n" for r in rows))
    return path


def write_data_yaml(root: Path, names=NAMES, **splits) -> Path:
    spec = {"path": ".", **splits, "names": names}
    path = root / "data.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def simple_dataset(root: Path, n_train: int = 6, n_val: int = 3, seed: int = 0) -> Path:
    """``images/{train,val}`` and ``labels/{train,val}`` with 1-2 boxes per image."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            boxes, rows = [], []
            for k in range(1 + i % 2):
                x1, y1 = rng.integers(2, 30), rng.integers(2, 20)
                box = (
                    int(x1),
                    int(y1),
                    int(x1 + rng.integers(8, 30)),
                    int(y1 + rng.integers(8, 24)),
                )
                boxes.append(box)
                rows.append(yolo_row(k % 2, box, 64, 48))
            write_image(root / "images" / split / f"{split}{i}.jpg", boxes=boxes, seed=i)
            write_labels(root / "labels" / split / f"{split}{i}.txt", rows)
    return write_data_yaml(root, train="images/train", val="images/val")
