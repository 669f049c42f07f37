"""Finding the image files that ``detplug infer`` is given (files and folders)."""

from __future__ import annotations

from pathlib import Path

from detplug_core.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def find_images(inputs: list[str]) -> list[Path]:
    """Expand files and folders (not recursive) into a sorted list of image paths."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{item}: no such image file or folder")
    if not found:
        raise DataError(
            f"no images found in {', '.join(inputs)} (suffixes: {sorted(IMAGE_SUFFIXES)})"
        )
    return found
