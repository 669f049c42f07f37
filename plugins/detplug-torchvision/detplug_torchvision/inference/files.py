"""Finding the image files that ``detplug infer`` is given (files and folders)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from detplug_core.errors import ConfigError, DataError

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


def drawn_names(paths: list[Path]) -> list[str]:
    """One distinct ``.png`` file name per image: ``<stem>.png``, or when two images share
    a stem (``x.jpg`` and ``x.png``, or ``a/x.jpg`` and ``b/x.jpg``) ``<stem>_<suffix>.png``,
    and an index when even that is shared."""
    stems = Counter(p.stem for p in paths)
    names = [
        f"{p.stem}.png" if stems[p.stem] == 1 else f"{p.stem}_{p.suffix.lstrip('.')}.png"
        for p in paths
    ]
    counts = Counter(names)
    seen: Counter[str] = Counter()
    unique = []
    for name in names:
        if counts[name] > 1:
            seen[name] += 1
            name = f"{name[: -len('.png')]}_{seen[name]}.png"
        unique.append(name)
    return unique


def check_out_dir(out_dir: Path, paths: list[Path]) -> None:
    """Refuse an output folder that holds any of the input images: the drawn images and
    predictions.json would overwrite inputs (or be read as inputs by the next run)."""
    out = out_dir.resolve()
    for path in paths:
        if path.resolve().parent == out:
            raise ConfigError(
                f"--out-dir {out_dir}: holds the input image {path}; the drawings could "
                "overwrite the inputs; choose another folder"
            )
