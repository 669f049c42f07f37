"""Turn what a user holds (a path, a PIL image, a numpy array, a tensor) into an image tensor."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import PIL.Image
import torch

from detplug_core.errors import DataError
from detplug_torchvision.datasets.image_io import read_image

ImageInput = str | os.PathLike | PIL.Image.Image | np.ndarray | torch.Tensor


def is_single_image(inputs: Any) -> bool:
    """One image (rather than a list/tuple of them); a 4-D array or tensor is a batch."""
    if isinstance(inputs, np.ndarray | torch.Tensor):
        return inputs.ndim in (2, 3)
    return not isinstance(inputs, list | tuple)


def to_image_tensor(item: ImageInput, index: int = 0) -> torch.Tensor:
    """``[3, H, W]``: uint8 as read, or float in 0..1 for float input (no copy if possible).

    - ``str``/``PathLike``: decoded with detplug's image reader (any format, colour mode);
    - ``PIL.Image``: converted to RGB;
    - ``numpy`` ``H x W x 3`` (RGB, as PIL and most libraries give; OpenCV users convert
      from BGR first) or ``H x W`` greyscale, uint8 or float in 0..1;
    - ``torch.Tensor`` ``[3, H, W]`` (or ``[1, H, W]``/``[H, W]`` greyscale), uint8 or float
      in 0..1, as a detplug dataset gives.
    """
    if isinstance(item, str | os.PathLike):
        return read_image(str(item), sample=str(item)).as_subclass(torch.Tensor)
    if isinstance(item, PIL.Image.Image):
        item = np.array(item.convert("RGB"))
    if isinstance(item, np.ndarray):
        if item.ndim == 3 and item.shape[2] in (1, 3, 4):
            item = item[:, :, :3] if item.shape[2] != 1 else item
            tensor = torch.from_numpy(_writable(item)).permute(2, 0, 1)
        elif item.ndim == 2:
            tensor = torch.from_numpy(_writable(item))[None]
        else:
            raise DataError(f"image {index}: expected an H x W x 3 array, got shape {item.shape}")
        item = tensor
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
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    if tensor.dtype != torch.uint8 and not tensor.is_floating_point():
        raise DataError(f"image {index}: expected uint8 or float pixels, got {tensor.dtype}")
    return tensor


def _writable(array: np.ndarray) -> np.ndarray:
    """Contiguous and writable (torch warns on read-only arrays); copies only if needed."""
    array = np.ascontiguousarray(array)
    return array if array.flags.writeable else array.copy()
