"""Reading an Ultralytics ``data.yaml`` and listing the images of one split.

```yaml
path: ../datasets/pets      # the data root; relative to this file (default: its folder)
train: images/train         # a folder (searched recursively), a .txt list file, or a list
val: [images/val, extra.txt]
test: null                  # optional
names: [cat, dog]           # or a mapping {0: cat, 1: dog}; nc, when given, must agree
```

Split entries are found as Ultralytics finds them: relative to ``path``, else to the file's
folder, and an entry starting with ``../`` that does not exist there is tried without it
(Roboflow writes ``train: ../train/images`` beside ``train/``). A ``val`` or ``test`` entry
found nowhere leaves that split out (``YoloData.missing`` says why; ``--data`` warns); a
``train`` entry found nowhere is an error naming the places tried.

A list file holds one image path per line, relative to the list file's folder (``./`` or
not) or absolute. Image files are recognised by suffix, in any case (``.JPG``, ``.jpeg``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import yaml

from detplug_core.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "SPLITS",
    "YoloData",
    "is_image",
    "label_path",
    "list_split",
    "load_data_yaml",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class YoloData:
    """A parsed ``data.yaml``: absolute root, class names and each split's entries."""

    path: str  # the data.yaml file
    root: str
    names: list[str]
    splits: dict[str, list[str]]  # split -> absolute folders / list files / image files
    missing: dict[str, str]  # val/test left out -> why (the entry and the places tried)


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def label_path(image_path: str) -> str:
    """``.../images/a/b.jpg`` -> ``.../labels/a/b.txt`` (the last ``images`` folder)."""
    head, sep, tail = image_path.rpartition(f"{os.sep}images{os.sep}")
    base = f"{head}{os.sep}labels{os.sep}{tail}" if sep else image_path
    return os.path.splitext(base)[0] + ".txt"


def _names(raw: object, nc: object, where: str) -> list[str]:
    if isinstance(raw, list):
        names = [str(n) for n in raw]
    elif isinstance(raw, dict):
        try:
            keys = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise DataError(f"{where}: 'names' keys must be class ids 0..N-1") from None
        if keys != list(range(len(keys))):
            raise DataError(f"{where}: 'names' must map every id 0..{len(keys) - 1}, got {keys}")
        names = [str(raw[k] if k in raw else raw[str(k)]) for k in keys]
    else:
        raise DataError(f"{where}: 'names' must be a list or a mapping id -> name, got {raw!r}")
    if not names:
        raise DataError(f"{where}: 'names' is empty")
    if len(set(names)) != len(names):
        raise DataError(f"{where}: 'names' has duplicates: {names}")
    if nc is not None and nc != len(names):
        raise DataError(f"{where}: nc is {nc} but 'names' lists {len(names)} classes")
    return names


def _candidates(entry: str, roots: list[str]) -> list[str]:
    """Where ``entry`` may be, in Ultralytics' order: under each root, then (for ``../x``)
    ``x`` under each root."""
    if os.path.isabs(entry):
        return [os.path.normpath(entry)]
    found = [os.path.normpath(os.path.join(r, entry)) for r in roots]
    if entry.startswith(("../", "..\\")):
        found += [os.path.normpath(os.path.join(r, entry[3:])) for r in roots]
    return list(dict.fromkeys(found))


def _resolve_split(path: str, split: str, value: object, roots: list[str]) -> list[str] | str:
    """The split's entries as existing absolute paths; for a val or test entry found
    nowhere, the text saying so; a DataError for train."""
    entries = value if isinstance(value, list) else [value]
    resolved = []
    for entry in entries:
        tried = _candidates(str(entry), roots)
        hit = next((c for c in tried if os.path.exists(c)), None)
        if hit is None:
            places = ", ".join(f"'{c}'" for c in tried)
            if split == "train":
                raise DataError(
                    f"{path}: train: '{entry}' is not there (tried {places}); fix 'train' "
                    "(relative to 'path', or to this file's folder)"
                )
            return f"{split}: '{entry}' is not there (tried {places})"
        resolved.append(hit)
    return resolved


def load_data_yaml(path: str) -> YoloData:
    """Parse ``path``; a DataError naming the file and the key for anything malformed."""
    path = os.path.abspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise DataError(f"data file '{path}' does not exist") from None
    except (OSError, yaml.YAMLError) as err:
        raise DataError(f"{path}: cannot read YOLO data file: {err}") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a mapping with 'train', 'val' and 'names'")
    if "names" not in raw:
        count = f"nc is {raw['nc']} but " if "nc" in raw else ""
        raise DataError(
            f"{path}: {count}'names' is missing: the class names are needed (label i is "
            "names[i]); add names: [first, second, ...] in class-id order"
        )
    names = _names(raw["names"], raw.get("nc"), path)
    here = os.path.dirname(path)
    root = os.path.normpath(os.path.join(here, str(raw.get("path") or ".")))
    roots = list(dict.fromkeys([root, here]))  # 'path:' from another machine: the file's folder
    splits: dict[str, list[str]] = {}
    missing: dict[str, str] = {}
    for split in SPLITS:
        value = raw.get(split)
        if value in (None, "", []):
            continue
        entries = _resolve_split(path, split, value, roots)
        if isinstance(entries, str):
            missing[split] = entries
        else:
            splits[split] = entries
    if "train" not in splits:
        raise DataError(f"{path}: missing 'train' (a folder, list file or list of them)")
    if not os.path.isdir(root):
        root = here
    return YoloData(path=path, root=root, names=names, splits=splits, missing=missing)


def _read_list_file(path: str) -> list[str]:
    here = os.path.dirname(path)
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except OSError as err:
        raise DataError(f"cannot read image list file '{path}': {err}") from None
    return [os.path.normpath(os.path.join(here, line)) for line in lines if line]


def _walk_images(folder: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        found += [os.path.join(dirpath, n) for n in sorted(filenames) if is_image(n)]
    return found


def list_split(data: YoloData, split: str) -> tuple[list[str], list[str]]:
    """``(image paths, image folders)`` of ``split``, in a stable order without duplicates.

    Folders are searched recursively; list files are read. The folders are returned so that
    label files without an image can be found beside them."""
    if split not in data.splits:
        known = ", ".join(data.splits)
        raise DataError(f"{data.path}: no split '{split}' (the file defines: {known})")
    images: list[str] = []
    folders: list[str] = []
    for entry in data.splits[split]:
        if os.path.isdir(entry):
            folders.append(entry)
            images += _walk_images(entry)
        elif entry.lower().endswith(".txt") and os.path.isfile(entry):
            images += _read_list_file(entry)
        elif is_image(entry):
            images.append(entry)
        else:
            raise DataError(
                f"{data.path}: {split}: '{entry}' is neither a folder, a .txt list file nor "
                "an image"
            )
    return list(dict.fromkeys(images)), folders
