"""Decoding image files into RGB uint8 tensors, whatever the file holds.

torchvision's libjpeg/libpng decoders handle JPEG, PNG, WebP and GIF, including greyscale,
palette, RGBA (alpha dropped) and CMYK files; 16-bit PNGs come back as uint16 and are scaled
to uint8. Other formats (BMP, TIFF, ...) go through Pillow. A file neither can decode is a
:class:`SampleError` (a DataError) naming the file, whose message survives DataLoader workers.

EXIF orientation: phones store many photos in the sensor's frame with an orientation tag
(e.g. 6: "rotate 90 degrees clockwise to display"). By default the image is returned as it is
*displayed* (the tag applied, as annotation tools and viewers show it), and
:func:`read_image_size` reports the displayed size too. ``exif_orientation=False`` returns the
stored frame (datasets: ``exif_orientation: false``).

Truncated files are never decoded half-way: libjpeg-turbo refuses them and so does Pillow
(``image file is truncated``); the SampleError says so.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
from torchvision import tv_tensors

from detplug_torchvision.datasets.errors import SampleError

try:  # deprecated in torchvision 0.29 in favour of TorchCodec; Pillow takes over if removed
    from torchvision.io import ImageReadMode, decode_image
except ImportError:  # pragma: no cover
    decode_image = None

__all__ = ["read_image", "read_image_size"]

EXIF_ORIENTATION_TAG = 0x0112
_SWAPS_SIDES = (5, 6, 7, 8)  # transpose, rotate 270, transverse, rotate 90


def read_image(path: str, sample: str = "", *, exif_orientation: bool = True) -> tv_tensors.Image:
    """The image at ``path`` as a ``tv_tensors.Image`` uint8 [3,H,W] (RGB).

    ``sample`` names the dataset sample in error messages (``"index 12 (image_id 40)"``).
    ``exif_orientation`` applies the file's EXIF orientation tag (the displayed frame).
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
        image = _decode_with_pillow(path, where, exif_orientation)
    else:
        if exif_orientation:
            image = apply_orientation(image, _orientation_of_bytes(data))
    if image.dtype != torch.uint8:
        image = _to_uint8(image)
    return tv_tensors.Image(image)


def read_image_size(
    path: str, sample: str = "", *, exif_orientation: bool = True
) -> tuple[int, int]:
    """``(height, width)`` of an image file from its header, without decoding the pixels
    (as displayed: sides swapped for EXIF orientations 5-8 unless ``exif_orientation`` is
    False)."""
    try:
        with PIL.Image.open(path) as im:
            width, height = im.size
            # Pillow opens a TIFF in its displayed frame already
            turned = im.format != "TIFF" and exif_orientation_of(im) in _SWAPS_SIDES
            if exif_orientation and turned:
                width, height = height, width
    except (OSError, ValueError) as err:
        where = f" ({sample})" if sample else ""
        raise SampleError(f"cannot read the size of image file '{path}'{where}: {err}") from None
    return int(height), int(width)


def exif_orientation_of(im: PIL.Image.Image) -> int:
    """The EXIF orientation tag of an opened image (1, "as stored", when there is none)."""
    try:
        value = im.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a malformed EXIF block: the pixels are still usable as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orientation_of_bytes(data: bytes) -> int:
    """The EXIF orientation in an encoded image's header (Pillow parses the header only;
    torchvision applies the tag for JPEG and PNG but not WebP, so detplug applies it for
    every format itself). Files without an EXIF block skip Pillow: a byte search is cheaper."""
    if not _may_have_exif(data):
        return 1
    try:
        with PIL.Image.open(io.BytesIO(data)) as im:
            return exif_orientation_of(im)
    except Exception:  # decodable by torchvision but not by Pillow: no tag to apply
        return 1


def _may_have_exif(data: bytes) -> bool:
    """False when ``data`` certainly holds no EXIF block (JPEG: no ``Exif`` APP1 segment in
    its header; PNG: no ``eXIf`` chunk); True when it may."""
    if data[:3] == b"\xff\xd8\xff":  # JPEG: APP1 comes before the image data
        return b"Exif\x00\x00" in data[:131072]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"eXIf" in data
    return True


def apply_orientation(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """``image`` [..., H, W] as displayed under EXIF ``orientation`` (1..8), as Pillow's
    ``ImageOps.exif_transpose`` does it."""
    if orientation == 2:
        image = image.flip(-1)
    elif orientation == 3:
        image = image.flip(-1, -2)
    elif orientation == 4:
        image = image.flip(-2)
    elif orientation == 5:
        image = image.transpose(-1, -2)
    elif orientation == 6:
        image = image.transpose(-1, -2).flip(-1)
    elif orientation == 7:
        image = image.transpose(-1, -2).flip(-1, -2)
    elif orientation == 8:
        image = image.transpose(-1, -2).flip(-2)
    else:
        return image
    return image.contiguous()


def _decode_with_torchvision(data: bytes) -> torch.Tensor:
    """libjpeg-turbo/libpng straight into a [3,H,W] tensor (RuntimeError if it cannot)."""
    if decode_image is None or not data:
        raise RuntimeError("torchvision cannot decode this")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), ImageReadMode.RGB)


def _decode_with_pillow(path: str, where: str, exif_orientation: bool) -> torch.Tensor:
    try:
        with PIL.Image.open(path) as im:
            im.load()
            shown = PIL.ImageOps.exif_transpose(im) if exif_orientation else im
            array = _pillow_to_rgb(shown)
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
