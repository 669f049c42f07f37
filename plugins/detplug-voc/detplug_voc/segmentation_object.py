"""Pascal VOC instance masks: ``SegmentationObject/<id>.png``.

Each PNG holds one index per pixel (a palette image; VOC's colours are only its palette):
``k`` is the k-th ``<object>`` of the image's XML file (1-based, in file order), ``0`` the
background and ``255`` the "void" band VOC draws along object outlines and over regions it
does not label. The void band belongs to no object: an object's mask is exactly its pixels
of value ``k`` (as COCO-style masks and torchvision's VOC conversion have it).

The PNG is in the frame of the XML's boxes: the image as the dataset loads it (EXIF
orientation applied with ``exif_orientation: true``); a PNG of another size is refused by
name, with the hint when its sides are the image's swapped (drawn on the stored frame of a
rotated photo).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import PIL.Image

from detplug_core.errors import DataError

__all__ = ["VOID", "check_size", "count_object_pixels", "object_masks", "read_object_png"]

VOID = 255
T = TypeVar("T")


def _read(path: str, where: str, read: Callable[[PIL.Image.Image], T]) -> T:
    """``read(image)`` of the opened PNG; a DataError naming the file (and ``where``: the
    sample) when it cannot be read or holds colours, not indices."""
    try:
        with PIL.Image.open(path) as im:
            if im.mode not in ("P", "L"):
                raise DataError(
                    f"SegmentationObject file '{path}' ({where}) is a {im.mode} image; it must "
                    "hold one object index per pixel (a palette or greyscale PNG, as VOC's)"
                )
            return read(im)
    except OSError as err:
        raise DataError(f"cannot read SegmentationObject file '{path}' ({where}): {err}") from None


def read_object_png(path: str, where: str) -> np.ndarray:
    """The object index of each pixel of ``path`` (uint8 [H, W])."""
    return _read(path, where, lambda im: np.asarray(im, dtype=np.uint8))


def count_object_pixels(path: str, where: str) -> tuple[tuple[int, int], np.ndarray]:
    """``((height, width), pixels)`` of ``path``: ``pixels[k]`` (int64 [256]) is how many
    pixels hold index k (Pillow's histogram, without an array of the pixels)."""

    def read(im: PIL.Image.Image) -> tuple[tuple[int, int], np.ndarray]:
        return (im.height, im.width), np.asarray(im.histogram(), dtype=np.int64)[:256]

    return _read(path, where, read)


def check_size(found: tuple[int, int], size: tuple[int, int], path: str, where: str) -> None:
    """A DataError naming the PNG when its ``found`` (height, width) is not ``size``."""
    if tuple(found) == tuple(size):
        return
    height, width = size
    found_h, found_w = found
    hint = ""
    if (found_h, found_w) == (width, height):
        hint = (
            "; its sides are the image's swapped: drawn on the stored frame of a photo with an "
            "EXIF rotation? exif_orientation: false loads such images as stored"
        )
    raise DataError(
        f"SegmentationObject file '{path}' is {found_w}x{found_h} but the image and its "
        f"annotations ({where}) are {width}x{height}{hint}"
    )


def object_masks(indices: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """uint8 [K, H, W]: mask k is where the PNG holds ``objects[k] + 1`` (``objects``: each
    box's 0-based position among the XML's objects)."""
    wanted = np.asarray(objects, np.int64).reshape(-1, 1, 1) + 1
    return (indices[None] == wanted).astype(np.uint8)
