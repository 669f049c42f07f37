"""``--data``: recognising a Pascal VOC folder (hook ``detplug_data_source``), and recording
the seeded split of a folder without ``ImageSets`` in the work dir (hook ``before_train``).

Recognised folders: a root with ``Annotations/`` (or another sub-folder of ``.xml`` files)
or a folder of ``.xml`` files itself. The images are in ``JPEGImages/`` or the first
sub-folder (by name) that holds image files, or beside the XML files. Splits:
``ImageSets/Main`` ``train``/``val`` (``test``) files, else ``trainval``/``test``, else a
seeded 80/20 split of the XML files. Classes: every object name in the XML files, sorted.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

from detplug_core import hookimpl
from detplug_voc.layout import IMAGE_SUFFIXES, xml_ids
from detplug_voc.voc_xml import parse_voc_xml

__all__ = ["before_train", "detplug_data_source"]


def _has(folder: str, suffixes: tuple[str, ...]) -> bool:
    return os.path.isdir(folder) and any(n.lower().endswith(suffixes) for n in os.listdir(folder))


def _is_voc_xml(folder: str) -> bool:
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".xml"))
    if not names:
        return False
    try:
        return ET.parse(os.path.join(folder, names[0])).getroot().tag == "annotation"
    except (ET.ParseError, OSError):
        return False


def _subdirs(root: str) -> list[str]:
    return sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))


def _layout(root: str) -> tuple[str, str] | None:
    """``(ann_dir, img_dir)`` relative to ``root``, or None when this is no VOC folder."""
    candidates = ["Annotations", ".", *_subdirs(root)]
    ann = next((d for d in candidates if _has(os.path.join(root, d), (".xml",))), None)
    if ann is None or not _is_voc_xml(os.path.join(root, ann)):
        return None
    images = ["JPEGImages", *_subdirs(root), "."]
    img = next((d for d in images if _has(os.path.join(root, d), IMAGE_SUFFIXES)), "JPEGImages")
    return ann, img


def _splits(root: str) -> dict[str, str]:
    main = os.path.join(root, "ImageSets", "Main")
    have = (
        {n[:-4] for n in os.listdir(main) if n.endswith(".txt")} if os.path.isdir(main) else set()
    )
    if {"train", "val"} <= have:
        return {s: s for s in ("train", "val", "test") if s in have}
    if {"trainval", "test"} <= have:
        return {"train": "trainval", "val": "test"}
    return {"train": "train", "val": "val"}  # ImageSets missing: VOCDataset splits by seed


@hookimpl
def detplug_data_source(path: str, image_dir: str | None) -> dict | None:
    if not os.path.isdir(path):
        return None
    layout = _layout(path)
    if layout is None:
        return None
    ann_dir, img_dir = layout
    if image_dir is not None:
        img_dir = os.path.abspath(image_dir)
    ann_root = os.path.join(path, ann_dir)
    names = set()
    for image_key in xml_ids(ann_root):
        names.update(
            o.name for o in parse_voc_xml(os.path.join(ann_root, f"{image_key}.xml")).objects
        )
    classes = sorted(names)
    root = os.path.abspath(path)
    splits = {
        split: {
            "type": "voc.VOCDataset",
            "data_root": root,
            "split": name,
            "classes": classes,
            "ann_dir": ann_dir,
            "img_dir": img_dir,
        }  # fmt: skip
        for split, name in _splits(root).items()
    }
    return {"format": "voc", "classes": classes, "splits": splits}


def _datasets(dataset: object) -> list:
    """``dataset`` and what it wraps (SeededDataset, RepeatDataset, ConcatDataset)."""
    found = [dataset]
    for inner in [getattr(dataset, "dataset", None), *getattr(dataset, "datasets", [])]:
        if inner is not None:
            found += _datasets(inner)
    return found


@hookimpl
def before_train(runner: object) -> None:
    """Write ``work_dir/voc_splits.json`` when a VOC folder was split by seed."""
    if getattr(runner, "rank", 0) != 0:
        return
    records = []
    for loader in (runner.train_dataloader, runner.val_dataloader):  # type: ignore[attr-defined]
        if loader is None:
            continue
        for ds in _datasets(loader.dataset):
            records += getattr(ds, "auto_splits", [])
    if records:
        path = os.path.join(runner.work_dir, "voc_splits.json")  # type: ignore[attr-defined]
        with open(path, "w", encoding="utf-8") as f:
            json.dump(records, f, indent=1)
