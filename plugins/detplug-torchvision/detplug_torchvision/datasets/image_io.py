"""Decoding image files into RGB uint8 tensors, whatever the file holds.

torchvision's libjpeg/libpng decoders handle JPEG, PNG, WebP and GIF, including greyscale,
palette, RGBA (alpha dropped) and CMYK files; 16-bit PNGs come back as uint16 and are scaled
to uint8. Other formats (BMP, TIFF, ...) go through Pillow. A file neither can decode is a
:class:`SampleError` (a DataError) naming the file, whose message survives DataLoader workers.
"""

from __future__ import annotations

import warnings

import numpy as np
import PIL.Image
import torch
from torchvision import tv_tensors

from detplug_torchvision.datasets.errors import SampleError

try:  # deprecated in torchvision 0.29 in favour of TorchCodec; Pillow takes over if removed
    from torchvision.io import ImageReadMode, decode_image
except ImportError:  # pragma: no cover
    decode_image = None

__all__ = ["read_image", "read_image_size"]


def read_image(path: str, sample: str = "") -> tv_tensors.Image:
    """The image at ``path`` as a ``tv_tensors.Image`` uint8 [3,H,W] (RGB).

    ``sample`` names the dataset sample in error messages (``"index 12 (image_id 40)"``).
    """
    where = f" ({sample})" if sample else ""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise SampleError(f"cannot read image file '{path}'{where}: {err}") from None
    try:
        image = _decode_with_torchvision(data)
    except RuntimeError:
        image = _decode_with_pillow(path, where)
    if image.dtype != torch.uint8:
        image = _to_uint8(image)
    return tv_tensors.Image(image)


def read_image_size(path: str, sample: str = "") -> tuple[int, int]:
    """``(height, width)`` of an image file from its header, without decoding the pixels."""
    try:
        with PIL.Image.open(path) as im:
            width, height = im.size
    except (OSError, ValueError) as err:
        where = f" ({sample})" if sample else ""
        raise SampleError(f"cannot read the size of image file '{path}'{where}: {err}") from None
    return int(height), int(width)


def _decode_with_torchvision(data: bytes) -> torch.Tensor:
    """libjpeg-turbo/libpng straight into a [3,H,W] tensor (RuntimeError if it cannot)."""
    if decode_image is None or not data:
        raise RuntimeError("torchvision cannot decode this")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), ImageReadMode.RGB)


def _decode_with_pillow(path: str, where: str) -> torch.Tensor:
    try:
        with PIL.Image.open(path) as im:
            im.load()
            array = _pillow_to_rgb(im)
    except (OSError, ValueError, SyntaxError) as err:
        # Pillow reports truncated or unrecognised files as OSError/ValueError/SyntaxError.
        reason = str(err) or type(err).__name__
        raise SampleError(f"cannot decode image file '{path}'{where}: {reason}") from None
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _pillow_to_rgb(im: PIL.Image.Image) -> np.ndarray:
    """HxWx3 array: uint8 for 8-bit modes, uint16 for 16/32-bit integer greyscale."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        grey = np.asarray(im).astype(np.uint16)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if im.mode == "I":  # 32-bit integer greyscale (how Pillow opens many 16-bit files)
        grey = np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if im.mode == "F":
        grey = np.clip(np.asarray(im), 0.0, 1.0) * 255.0 + 0.5
        return np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Scale a uint16 image to uint8 (keeps the top 8 bits, like torchvision's to_dtype)."""
    if image.dtype == torch.uint16:
        return (image.to(torch.int32) >> 8).to(torch.uint8)
    raise SampleError(f"unsupported image dtype {image.dtype}")
