"""``--data``: recognising a COCO JSON file (hook ``detplug_data_source``).

``--data annotations/instances_train2017.json`` is the train split; a sibling file with
``val`` (``test``) in place of ``train`` in its name is the val (test) split. The images of
each file are in ``--data-images DIR`` when given, else the first of these folders that holds
the file's first image: ``<stem>`` (``train2017`` for ``instances_train2017.json``) and
``images/<stem>`` beside the JSON's folder or inside it, ``images/`` there, the JSON's folder.
"""

from __future__ import annotations

import os

from detplug_coco.coco_json import load_json
from detplug_core import hookimpl
from detplug_core.errors import DataError

__all__ = ["detplug_data_source", "find_image_dir"]


def _looks_like_coco(path: str) -> dict | None:
    if not (os.path.isfile(path) and path.lower().endswith(".json")):
        return None
    raw = load_json(path)
    keys = ("images", "annotations", "categories")
    return raw if isinstance(raw, dict) and all(k in raw for k in keys) else None


def find_image_dir(json_path: str, raw: dict) -> str:
    """The folder holding ``raw``'s first image, searched as the module docstring says."""
    here = os.path.dirname(os.path.abspath(json_path))
    stem = os.path.splitext(os.path.basename(json_path))[0].removeprefix("instances_")
    parent = os.path.dirname(here)
    candidates = []
    for base in (parent, here):
        candidates += [os.path.join(base, stem), os.path.join(base, "images", stem)]
    candidates += [os.path.join(here, "images"), os.path.join(parent, "images"), here]
    images = raw.get("images") or []
    first = images[0].get("file_name") if images and isinstance(images[0], dict) else None
    for folder in candidates:
        if first is None and os.path.isdir(folder):
            return folder
        if first is not None and os.path.isfile(os.path.join(folder, str(first))):
            return folder
    tried = ", ".join(candidates)
    raise DataError(
        f"{json_path}: cannot find the folder of its images (looked for '{first}' in {tried}); "
        "give it with --data-images DIR"
    )


@hookimpl
def detplug_data_source(path: str, image_dir: str | None) -> dict | None:
    raw = _looks_like_coco(path)
    if raw is None:
        return None
    categories = sorted(
        (c for c in raw["categories"] if isinstance(c, dict)), key=lambda c: c.get("id", 0)
    )
    classes = [str(c.get("name")) for c in categories]
    splits = {}
    name = os.path.basename(path)
    for split in ("train", "val", "test"):
        if split == "train":
            ann, ann_raw = path, raw
        elif "train" in name:
            ann = os.path.join(os.path.dirname(path), name.replace("train", split))
            if not os.path.isfile(ann):
                continue
            ann_raw = load_json(ann)
        else:
            continue
        folder = image_dir if image_dir is not None else find_image_dir(ann, ann_raw)
        splits[split] = {
            "type": "coco.CocoDataset",
            "ann_file": os.path.abspath(ann),
            "img_dir": os.path.abspath(folder),
        }
    return {"format": "coco", "classes": classes, "splits": splits}
