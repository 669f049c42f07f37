"""Building small YOLO-layout data sets on disk for the tests (nothing is shipped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

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


def polygon_row(cls: int, points, width: int, height: int) -> str:
    """``cls x1 y1 x2 y2 ...`` of ``points`` (x, y pixels), normalised."""
    coords = " ".join(f"{x / width:.6f} {y / height:.6f}" for x, y in points)
    return f"{cls} {coords}"


def random_polygon(rng, width: int, height: int, n: int = 6):
    """A star-shaped polygon (points sorted by angle about a centre) inside the image."""
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    radius = rng.uniform(0.15, 0.28) * min(width, height)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius * rng.uniform(0.6, 1.0, n)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a, r in zip(angles, radii, strict=True)]


def segment_dataset(root: Path, n_train: int = 4, n_val: int = 2, seed: int = 0, **extra) -> Path:
    """An Ultralytics/Roboflow segmentation export: ``train/images``, ``train/labels`` (and
    ``valid``), one or two polygons per image, drawn filled; ``data.yaml`` with ``task:
    segment`` and Roboflow's ``../train/images`` entries."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("valid", n_val)):
        for i in range(n):
            rows, pixels = [], rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
            image = Image.fromarray(pixels)
            for k in range(1 + i % 2):
                points = random_polygon(rng, 64, 48)
                ImageDraw.Draw(image).polygon(points, fill=(200, 80 + 90 * k, 40))
                rows.append(polygon_row(k, points, 64, 48))
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            image.save(root / split / "images" / f"{split}{i}.jpg", quality=95)
            write_labels(root / split / "labels" / f"{split}{i}.txt", rows)
    spec = {"train": "../train/images", "val": "../valid/images", "nc": 2, "names": NAMES,
            "task": "segment", **extra}  # fmt: skip
    path = root / "data.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path
