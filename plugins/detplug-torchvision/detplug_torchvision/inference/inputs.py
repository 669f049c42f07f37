"""Turn what a user holds (a path, a PIL image, a numpy array, a tensor) into an image tensor."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch

from detplug_core.errors import DataError
from detplug_torchvision.datasets.image_io import _pillow_to_rgb, _to_uint8, read_image

ImageInput = str | os.PathLike | PIL.Image.Image | np.ndarray | torch.Tensor
# Float images: rounding in a user's own conversion may step just outside 0..1.
UNIT_TOLERANCE = 1e-3


def is_single_image(inputs: Any) -> bool:
    """One image (rather than a list/tuple of them); a 4-D array or tensor is a batch."""
    if isinstance(inputs, np.ndarray | torch.Tensor):
        return inputs.ndim in (2, 3)
    return not isinstance(inputs, list | tuple)


def to_image_tensor(item: ImageInput, index: int = 0) -> torch.Tensor:
    """``[3, H, W]``: uint8 as read, or float in 0..1 for float input (no copy if possible).

    - ``str``/``PathLike``: decoded with detplug's image reader (any format, colour mode);
    - ``PIL.Image``: shown as the file would be (EXIF orientation applied, as for a path),
      any mode: 16-bit and 32-bit greyscale scaled to 8 bits as the reader scales them;
    - ``numpy`` ``H x W x 3`` (RGB, as PIL and most libraries give; OpenCV users convert
      from BGR first) or ``H x W`` greyscale, uint8, uint16 or float in 0..1;
    - ``torch.Tensor`` ``[3, H, W]`` (or ``[1, H, W]``/``[H, W]`` greyscale), uint8 or float
      in 0..1, as a detplug dataset gives.

    Float pixels outside 0..1 (a 0..255 float image) and empty images are a
    :class:`DataError`: the model would run on them and answer something else.
    """
    if isinstance(item, str | os.PathLike):
        return read_image(str(item), sample=str(item)).as_subclass(torch.Tensor)
    if isinstance(item, PIL.Image.Image):
        item = _pillow_to_rgb(PIL.ImageOps.exif_transpose(item))
    if isinstance(item, np.ndarray):
        item = _from_numpy(item, index)
    if not isinstance(item, torch.Tensor):
        raise DataError(
            f"image {index}: expected a path, PIL image, numpy array or tensor, got "
            f"{type(item).__name__}"
        )
    tensor = item.as_subclass(torch.Tensor)
    if tensor.ndim == 2:
        tensor = tensor[None]
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
        raise DataError(f"image {index}: expected a [3, H, W] tensor, got {list(tensor.shape)}")
    if tensor.shape[1] == 0 or tensor.shape[2] == 0:
        raise DataError(
            f"image {index}: empty image ({tensor.shape[1]} x {tensor.shape[2]} pixels)"
        )
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    if tensor.dtype == torch.uint16:
        tensor = _to_uint8(tensor)
    if tensor.dtype != torch.uint8 and not tensor.is_floating_point():
        raise DataError(f"image {index}: expected uint8 or float pixels, got {tensor.dtype}")
    if tensor.is_floating_point():
        _check_unit_range(tensor, index)
    return tensor


def _from_numpy(array: np.ndarray, index: int) -> torch.Tensor:
    if array.ndim == 3 and array.shape[2] in (1, 3, 4):
        array = array[:, :, :3] if array.shape[2] != 1 else array
        return torch.from_numpy(_writable(array)).permute(2, 0, 1)
    if array.ndim == 2:
        return torch.from_numpy(_writable(array))[None]
    raise DataError(f"image {index}: expected an H x W x 3 array, got shape {array.shape}")


def _check_unit_range(tensor: torch.Tensor, index: int) -> None:
    low, high = (float(v) for v in torch.aminmax(tensor))
    if low < -UNIT_TOLERANCE or high > 1 + UNIT_TOLERANCE:
        raise DataError(
            f"image {index}: float pixels must be in 0..1, got values from {low:g} to {high:g}"
            " (divide 0..255 values by 255, or pass uint8)"
        )


def _writable(array: np.ndarray) -> np.ndarray:
    """Contiguous and writable (torch warns on read-only arrays); copies only if needed."""
    array = np.ascontiguousarray(array)
    return array if array.flags.writeable else array.copy()
