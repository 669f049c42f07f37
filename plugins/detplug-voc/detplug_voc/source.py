"""``--data``: recognising a Pascal VOC folder (hook ``detplug_data_source``), and recording
the seeded split of a folder without ``ImageSets`` in the work dir (hook ``before_train``).

Recognised folders: a root with ``Annotations/`` (or another sub-folder of ``.xml`` files)
or a folder of ``.xml`` files itself (then its parent is the root when the parent has
``ImageSets``). The images are in the first folder that holds the image of the first XML
file (by id, or by its ``<filename>``): ``JPEGImages/``, another sub-folder, the XML folder
itself, or a sibling of the XML folder of any name (``annots/`` beside ``images/``). Splits:
``ImageSets/Main`` ``train``/``val`` (``test``) files, else ``trainval``/``test``, else a
seeded 80/20 split of ``trainval`` or, without ``ImageSets``, of the XML files. Classes:
every object name in the XML files, sorted.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

from detplug_core import hookimpl
from detplug_core.errors import DataError
from detplug_voc.layout import IMAGE_SUFFIXES, xml_ids
from detplug_voc.voc_xml import parse_voc_xml

__all__ = ["before_train", "detplug_data_source"]

_PROBE = 5  # XML files read to decide whether a folder is VOC


def _has(folder: str, suffixes: tuple[str, ...]) -> bool:
    return os.path.isdir(folder) and any(n.lower().endswith(suffixes) for n in os.listdir(folder))


def _is_voc_xml(folder: str) -> bool:
    """Whether the folder's XML files are VOC annotations. A file that does not parse does
    not make the folder something else: when none of the first few parse, the first one's
    error is raised, naming the file."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".xml"))[:_PROBE]
    if not names:
        return False
    broken = []
    for name in names:
        try:
            return ET.parse(os.path.join(folder, name)).getroot().tag == "annotation"
        except ET.ParseError:
            broken.append(name)
        except OSError:
            continue
    if broken:
        parse_voc_xml(os.path.join(folder, broken[0]))  # raises its DataError: file, line
    return False


def _subdirs(root: str) -> list[str]:
    return sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))


def _holds_image_of(folder: str, stem: str, filename: str) -> bool:
    if not os.path.isdir(folder):
        return False
    if filename and os.path.isfile(os.path.join(folder, filename)):
        return True
    return any(
        os.path.splitext(n)[0] == stem and n.lower().endswith(IMAGE_SUFFIXES)
        for n in os.listdir(folder)
    )


def _image_dir(root: str, ann_dir: str) -> str:
    """The folder (relative to ``root``) holding the first XML file's image."""
    ann_root = os.path.normpath(os.path.join(root, ann_dir))
    stem = xml_ids(ann_root)[0]
    first = parse_voc_xml(os.path.join(ann_root, f"{stem}.xml"))
    candidates = ["JPEGImages", *_subdirs(root), ann_dir, "."]
    parent = os.path.dirname(os.path.abspath(ann_root))
    if os.path.abspath(ann_root) == os.path.abspath(root):  # siblings of the XML folder
        candidates += [os.path.join("..", d) for d in _subdirs(parent)]
    for folder in dict.fromkeys(candidates):
        if _holds_image_of(os.path.join(root, folder), stem, first.filename):
            return folder
    looked = ", ".join(os.path.normpath(os.path.join(root, c)) for c in dict.fromkeys(candidates))
    raise DataError(
        f"--data: no folder holds the image of '{first.path}' ({stem}.jpg or another image "
        f"suffix, or its <filename> '{first.filename}'); looked in {looked}. Give the image "
        "folder with --data-images DIR"
    )


def _layout(path: str) -> tuple[str, str] | None:
    """``(root, ann_dir)``, or None when this is no VOC folder."""
    candidates = ["Annotations", ".", *_subdirs(path)]
    ann = next((d for d in candidates if _has(os.path.join(path, d), (".xml",))), None)
    if ann is None or not _is_voc_xml(os.path.join(path, ann)):
        return None
    parent = os.path.dirname(os.path.abspath(path))
    if ann == "." and os.path.isdir(os.path.join(parent, "ImageSets")):
        return parent, os.path.basename(os.path.abspath(path))  # VOC2007/Annotations given
    return os.path.abspath(path), ann


def _splits(root: str) -> dict[str, str]:
    main = os.path.join(root, "ImageSets", "Main")
    have = (
        {n[:-4] for n in os.listdir(main) if n.endswith(".txt")} if os.path.isdir(main) else set()
    )
    if {"train", "val"} <= have:
        return {s: s for s in ("train", "val", "test") if s in have}
    if {"trainval", "test"} <= have:
        return {"train": "trainval", "val": "test"}
    # VOCDataset splits trainval (or, without ImageSets, all XML files) by seed
    return {"train": "train", "val": "val", **({"test": "test"} if "test" in have else {})}


@hookimpl
def detplug_data_source(path: str, image_dir: str | None) -> dict | None:
    if not os.path.isdir(path):
        return None
    layout = _layout(path)
    if layout is None:
        return None
    root, ann_dir = layout
    img_dir = os.path.abspath(image_dir) if image_dir is not None else _image_dir(root, ann_dir)
    ann_root = os.path.join(root, ann_dir)
    names = set()
    for image_key in xml_ids(ann_root):
        names.update(
            o.name for o in parse_voc_xml(os.path.join(ann_root, f"{image_key}.xml")).objects
        )
    classes = sorted(names)
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
