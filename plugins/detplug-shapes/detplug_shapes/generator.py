"""Deterministic images of coloured shapes on noisy backgrounds, written as a COCO dataset.

Every image draws from its own random stream ``(seed, split, index)``, so a spec always
gives the same pixels and the same boxes. Shapes are filled polygons or ellipses in vivid
colours drawn at random (colour says nothing about the class: only the shape does) over a
muted gradient with faint lines and pixel noise. A box is the exact extent of its shape's
pixels (amodal: later shapes may cover a little of it; ``max_overlap`` bounds how much).
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import zlib
from dataclasses import asdict, dataclass

import numpy as np
import PIL.Image
import PIL.ImageDraw

__all__ = [
    "GENERATOR_VERSION",
    "SHAPE_KINDS",
    "ShapesSpec",
    "generate",
    "render_image",
    "render_masks",
]

GENERATOR_VERSION = 1  # bump when the pixels or boxes for a spec change
SHAPE_KINDS = ("rectangle", "ellipse", "triangle", "diamond", "hexagon", "star", "cross")
ANNOTATION_FILE = "annotations.json"
IMAGE_DIR = "images"
NOISE_STD = 7.0  # pixel noise over the whole image, shapes included


@dataclass(frozen=True)
class ShapesSpec:
    """Everything that determines a generated split (and its cache key)."""

    split: str
    num_images: int
    image_size: int
    min_objects: int
    max_objects: int
    classes: tuple[str, ...]
    object_size: tuple[int, int]  # min, max of a shape's width/height in pixels
    seed: int
    max_overlap: float = 0.25  # of the smaller box's area, between any two boxes

    def key(self) -> str:
        """A short hash of the spec and the generator version: the cache folder name."""
        text = json.dumps({"v": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return f"{self.split}-{zlib.crc32(text.encode()):08x}{len(text):04x}"


def _unit_polygon(kind: str, rng: np.random.Generator) -> list[tuple[float, float]] | None:
    """Vertices of ``kind`` around the origin (None for box-filling kinds)."""
    if kind == "triangle":
        sides, angle = 3, rng.uniform(0, 2 * math.pi)
    elif kind == "hexagon":
        sides, angle = 6, rng.uniform(0, math.pi / 3)
    elif kind == "diamond":
        sides, angle = 4, 0.0
    elif kind == "star":
        angle = rng.uniform(0, 2 * math.pi / 5)
        return [
            (r * math.cos(angle + k * math.pi / 5), r * math.sin(angle + k * math.pi / 5))
            for k in range(10)
            for r in ((1.0, 0.45)[k % 2],)
        ]
    elif kind == "cross":
        t = rng.uniform(0.28, 0.4)  # arm half-thickness
        return [(-t, -1), (t, -1), (t, -t), (1, -t), (1, t), (t, t), (t, 1), (-t, 1),
                (-t, t), (-1, t), (-1, -t), (-t, -t)]  # fmt: skip
    else:
        return None
    return [(math.cos(angle + 2 * math.pi * k / sides), math.sin(angle + 2 * math.pi * k / sides))
            for k in range(sides)]  # fmt: skip


def _shape_mask(kind: str, box: tuple[int, int, int, int], size: int, rng) -> PIL.Image.Image:
    """An 'L' mask with the shape filling ``box`` (x0, y0, x1, y1; x1, y1 exclusive)."""
    mask = PIL.Image.new("L", (size, size), 0)
    draw = PIL.ImageDraw.Draw(mask)
    x0, y0, x1, y1 = box
    points = _unit_polygon(kind, rng)
    if kind == "ellipse":
        draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=255)
    elif points is None:  # rectangle
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=255)
    else:  # stretch the polygon's extent onto the box
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        sx = (x1 - 1 - x0) / (max(xs) - min(xs))
        sy = (y1 - 1 - y0) / (max(ys) - min(ys))
        draw.polygon(
            [(x0 + (px - min(xs)) * sx, y0 + (py - min(ys)) * sy) for px, py in points], fill=255
        )
    return mask


def _colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]):
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val))
    return np.array([r, g, b]) * 255.0


def _background(size: int, rng: np.random.Generator) -> PIL.Image.Image:
    """A muted two-colour gradient in a random direction, with a few faint lines."""
    a, b = _colour(rng, (0.0, 0.35), (0.12, 0.5)), _colour(rng, (0.0, 0.35), (0.12, 0.5))
    theta = rng.uniform(0, 2 * math.pi)
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    t = (math.cos(theta) * ramp[None, :] + math.sin(theta) * ramp[:, None] + 1.0) / 2.0
    pixels = a.astype(np.float32) + (b - a).astype(np.float32) * t[..., None]
    image = PIL.Image.fromarray(pixels.astype(np.uint8))
    draw = PIL.ImageDraw.Draw(image)
    for _ in range(int(rng.integers(0, 4))):
        ends = [float(v) for v in rng.uniform(0, size, 4)]
        colour = tuple(int(c) for c in _colour(rng, (0.0, 0.3), (0.2, 0.6)))
        draw.line(ends, fill=colour, width=int(rng.integers(1, 3)))
    return image


def _overlap_ok(box, boxes, max_overlap: float) -> bool:
    x0, y0, x1, y1 = box
    area = (x1 - x0) * (y1 - y0)
    for u0, v0, u1, v1 in boxes:
        inter = max(0, min(x1, u1) - max(x0, u0)) * max(0, min(y1, v1) - max(y0, v0))
        if inter > max_overlap * min(area, (u1 - u0) * (v1 - v0)):
            return False
    return True


def _place(spec: ShapesSpec, boxes: list, rng: np.random.Generator):
    """A box of random size (log-uniform) and aspect that overlaps the others little."""
    lo, hi = spec.object_size
    for _ in range(50):
        side = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        aspect = math.exp(rng.uniform(-0.35, 0.35))
        w = int(np.clip(round(side * aspect), lo, min(hi, spec.image_size)))
        h = int(np.clip(round(side / aspect), lo, min(hi, spec.image_size)))
        x0 = int(rng.integers(0, spec.image_size - w + 1))
        y0 = int(rng.integers(0, spec.image_size - h + 1))
        box = (x0, y0, x0 + w, y0 + h)
        if _overlap_ok(box, boxes, spec.max_overlap):
            return box
    return None


def _draw(
    spec: ShapesSpec, index: int
) -> tuple[PIL.Image.Image, list[dict], list[PIL.Image.Image], np.random.Generator]:
    """Image ``index`` before its pixel noise, its objects, each object's shape mask (an
    'L' image, 255 inside) and the image's random stream (to draw the noise from)."""
    rng = np.random.default_rng([spec.seed, zlib.crc32(spec.split.encode()), index])
    image = _background(spec.image_size, rng)
    objects: list[dict] = []
    masks: list[PIL.Image.Image] = []
    for _ in range(int(rng.integers(spec.min_objects, spec.max_objects + 1))):
        box = _place(spec, [o["box"] for o in objects], rng)
        if box is None:
            continue
        label = int(rng.integers(len(spec.classes)))
        mask = _shape_mask(spec.classes[label], box, spec.image_size, rng)
        colour = tuple(int(c) for c in _colour(rng, (0.55, 1.0), (0.65, 1.0)))
        image.paste(colour, (0, 0), mask)
        objects.append({"label": label, "box": list(mask.getbbox())})
        masks.append(mask)
    return image, objects, masks, rng


def render_image(spec: ShapesSpec, index: int) -> tuple[PIL.Image.Image, list[dict]]:
    """Image ``index`` of the split and its objects ``{"label", "box": [x0, y0, x1, y1]}``."""
    image, objects, _, rng = _draw(spec, index)
    noise = rng.standard_normal((spec.image_size, spec.image_size, 3), dtype=np.float32)
    pixels = np.asarray(image, dtype=np.float32) + noise * NOISE_STD
    return PIL.Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), objects


def render_masks(spec: ShapesSpec, index: int) -> np.ndarray:
    """The exact masks of image ``index``'s objects, in :func:`render_image`'s order:
    ``[K, H, W]`` uint8, 1 on every pixel of the shape's fill. Each is the whole shape
    (amodal, like its box): a later shape may cover a little of it (``max_overlap``)."""
    _, _, masks, _ = _draw(spec, index)
    if not masks:
        return np.zeros((0, spec.image_size, spec.image_size), np.uint8)
    return (np.stack([np.asarray(m) for m in masks]) > 0).astype(np.uint8)


def generate(spec: ShapesSpec, out_dir: str) -> None:
    """Write ``images/*.png`` and ``annotations.json`` (COCO, category ids from 1)."""
    os.makedirs(os.path.join(out_dir, IMAGE_DIR), exist_ok=True)
    images, annotations = [], []
    for index in range(spec.num_images):
        image, objects = render_image(spec, index)
        file_name = f"{index:06d}.png"
        image.save(os.path.join(out_dir, IMAGE_DIR, file_name), format="PNG", compress_level=1)
        images.append(
            {"id": index + 1, "file_name": file_name, "width": spec.image_size,
             "height": spec.image_size}
        )  # fmt: skip
        for obj in objects:
            x0, y0, x1, y1 = obj["box"]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": index + 1,
                 "category_id": obj["label"] + 1, "bbox": [x0, y0, x1 - x0, y1 - y0],
                 "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}
            )  # fmt: skip
    categories = [
        {"id": i + 1, "name": name, "supercategory": "shape"} for i, name in enumerate(spec.classes)
    ]
    coco = {
        "info": {"description": "detplug synthetic shapes", "version": str(GENERATOR_VERSION),
                 "spec": asdict(spec)},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }  # fmt: skip
    with open(os.path.join(out_dir, ANNOTATION_FILE), "w", encoding="utf-8") as f:
        json.dump(coco, f, sort_keys=True, separators=(",", ":"))
