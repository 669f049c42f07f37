"""``ShapesDataset``: the synthetic shapes, generated on first use (DATASETS, scope
``shapes``). A ``CocoDataset`` over the generated COCO files."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from detplug_coco.dataset import CocoDataset

from detplug_core.errors import BuildError, DataError
from detplug_shapes.cache import default_cache_root, ensure_generated
from detplug_shapes.generator import (
    ANNOTATION_FILE,
    IMAGE_DIR,
    SHAPE_KINDS,
    ShapesSpec,
    generate,
    render_masks,
)
from detplug_shapes.registries import DATASETS

__all__ = ["DEFAULT_NUM_IMAGES", "ShapesDataset"]

DEFAULT_NUM_IMAGES = {"train": 1000, "val": 200}
DEFAULT_NUM_CLASSES = 3


def _resolve_classes(classes: Sequence[str] | None, num_classes: int | None) -> tuple[str, ...]:
    if classes is None:
        n = DEFAULT_NUM_CLASSES if num_classes is None else num_classes
        if not 1 <= n <= len(SHAPE_KINDS):
            raise BuildError(f"ShapesDataset: num_classes must be 1..{len(SHAPE_KINDS)}, got {n}")
        return SHAPE_KINDS[:n]
    unknown = [c for c in classes if c not in SHAPE_KINDS]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise BuildError(
            f"ShapesDataset: classes must be distinct shape kinds from {list(SHAPE_KINDS)}, "
            f"got {list(classes)}"
        )
    if num_classes is not None and num_classes != len(classes):
        raise BuildError(f"ShapesDataset: num_classes={num_classes} but {len(classes)} classes")
    return tuple(classes)


@DATASETS.register()
class ShapesDataset(CocoDataset):
    """Coloured shapes on noisy backgrounds, one class per shape kind, deterministic for
    ``seed``; ``train`` and ``val`` (or any split name) draw independent images.

    Generated once into ``cache_dir/<split>-<hash of the parameters>`` (default
    ``$DETPLUG_CACHE/shapes`` or ``~/.cache/detplug/shapes``) as COCO JSON + PNG files.
    ``num_images`` defaults to 1000 (train) / 200 (other splits); ``object_size`` (min, max
    side in pixels) to ``image_size / 12 .. image_size / 2.4`` (16..80 at 192 px).
    ``classes`` picks shape kinds by name (``rectangle, ellipse, triangle, diamond,
    hexagon, star, cross``); else ``num_classes`` takes the first ones (default 3).

    ``with_masks: true`` adds each image's exact instance masks to its target, as
    ``masks`` (a ``tv_tensors.Mask`` [K, H, W] uint8, one per box, in box order), so the
    box-aware transforms move them with the image; each mask is its whole shape, as its box
    is. They are drawn again from the image's random stream when the sample is loaded (the
    generated files hold boxes only, so the cache and the boxes-only loading are unchanged).
    """

    def __init__(
        self,
        split: str = "train",
        num_images: int | None = None,
        image_size: int = 192,
        min_objects: int = 1,
        max_objects: int = 6,
        classes: Sequence[str] | None = None,
        num_classes: int | None = None,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        transforms: Sequence[dict] | Any = None,
        object_size: Sequence[int] | None = None,
        filter_empty: bool = False,
        with_masks: bool = False,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(split)):
            raise BuildError(
                f"ShapesDataset: split must be a plain name like 'train', got {split!r}"
            )
        if num_images is None:
            num_images = DEFAULT_NUM_IMAGES.get(split, DEFAULT_NUM_IMAGES["val"])
        if object_size is None:
            object_size = (round(image_size / 12), round(image_size / 2.4))
        lo, hi = (int(v) for v in object_size)
        if num_images < 0 or image_size < 8 or not 0 <= min_objects <= max_objects:
            raise BuildError(
                f"ShapesDataset: need num_images >= 0, image_size >= 8 and 0 <= min_objects "
                f"<= max_objects; got {num_images}, {image_size}, {min_objects}, {max_objects}"
            )
        if not 4 <= lo <= hi <= image_size:
            raise BuildError("ShapesDataset: object_size must be 4 <= min <= max <= image_size")
        self.spec = ShapesSpec(
            split=split,
            num_images=int(num_images),
            image_size=int(image_size),
            min_objects=int(min_objects),
            max_objects=int(max_objects),
            classes=_resolve_classes(classes, num_classes),
            object_size=(lo, hi),
            seed=int(seed),
        )
        root = Path(cache_dir) if cache_dir is not None else default_cache_root()
        self.root = ensure_generated(
            root, self.spec.key(), ANNOTATION_FILE, lambda out: generate(self.spec, out)
        )
        super().__init__(
            ann_file=str(self.root / ANNOTATION_FILE),
            img_dir=str(self.root / IMAGE_DIR),
            transforms=transforms,
            filter_empty=filter_empty,
        )
        self.with_masks = bool(with_masks)

    def load_masks(self, index: int, record: Any) -> Any:
        """The exact masks of the image's shapes, drawn again from its random stream, for
        the boxes the record kept (``record.ann_index``: each box's place in the image's
        annotations, which the generator writes in drawing order)."""
        masks = render_masks(self.spec, int(record.image_id) - 1)
        picks = record.ann_index
        if len(picks) and int(picks.max()) >= len(masks):
            raise DataError(
                f"{self.describe(index)}: annotation {int(picks.max())} in {self.root} but "
                f"the generator draws {len(masks)} shapes; delete that cache folder"
            )
        return torch.from_numpy(masks[picks])
