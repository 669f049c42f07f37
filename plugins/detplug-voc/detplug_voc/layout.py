"""VOC layouts as people have them: image lookup by id in any suffix, and the seeded split
of a folder of XML files that has no ``ImageSets``."""

from __future__ import annotations

import os
import random

from detplug_core.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "ImageFolder", "auto_split", "xml_ids"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
AUTO_SPLITS = ("train", "val", "trainval")


class ImageFolder:
    """Finds ``<id>.<suffix>`` in a folder whatever the suffix's case (listed once)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._by_stem: dict[str, list[str]] | None = None

    def _stems(self) -> dict[str, list[str]]:
        if self._by_stem is None:
            names = sorted(os.listdir(self.folder)) if os.path.isdir(self.folder) else []
            self._by_stem = {}
            for name in names:
                stem, suffix = os.path.splitext(name)
                if suffix.lower() in IMAGE_SUFFIXES:
                    self._by_stem.setdefault(stem, []).append(name)
        return self._by_stem

    def find(self, image_id: str, suffix: str, xml_filename: str) -> str:
        """``<id><suffix>`` if it exists, else ``<id>`` with another image suffix, else the
        XML's ``<filename>``; else the first path (reported missing by the dataset)."""
        first = os.path.join(self.folder, image_id + suffix)
        if os.path.isfile(first):
            return first
        others = self._stems().get(image_id)
        if others:
            return os.path.join(self.folder, others[0])
        if xml_filename and os.path.isfile(os.path.join(self.folder, xml_filename)):
            return os.path.join(self.folder, xml_filename)
        return first


def xml_ids(ann_root: str) -> list[str]:
    """Sorted ids (file stems) of the ``.xml`` files in ``ann_root``."""
    if not os.path.isdir(ann_root):
        raise DataError(f"annotation folder '{ann_root}' does not exist")
    return sorted(n[:-4] for n in os.listdir(ann_root) if n.lower().endswith(".xml"))


def auto_split(
    ann_root: str, split: str, ratio: float, seed: int, ids: list[str] | None = None
) -> list[str]:
    """The ids of ``split`` of a seeded shuffle of ``ids`` (default: the XML files of
    ``ann_root``): ``train`` the first ``round(ratio * n)`` (at least 1, and at least 1 left
    for ``val`` when n > 1), ``val`` the rest, ``trainval`` all, each in sorted order."""
    if split not in AUTO_SPLITS:
        raise DataError(
            f"{ann_root}: no ImageSets/Main split files, so split must be one of "
            f"{', '.join(AUTO_SPLITS)} (a seeded split by split_ratio), got '{split}'"
        )
    ids = sorted(ids) if ids is not None else xml_ids(ann_root)
    if not ids:
        raise DataError(f"annotation folder '{ann_root}' holds no .xml files")
    if split == "trainval":
        return ids
    shuffled = list(ids)
    random.Random(seed).shuffle(shuffled)
    n_train = min(max(round(ratio * len(ids)), 1), max(len(ids) - 1, 1))
    part = shuffled[:n_train] if split == "train" else shuffled[n_train:]
    return sorted(part)
