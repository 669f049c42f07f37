"""``--data``: recognising a YOLO data set (hook ``detplug_data_source``).

Recognised: a ``.yaml``/``.yml`` file with YOLO keys (``names``, or ``nc`` with a ``train``
path), or a folder holding ``data.yaml``. Each split the file defines becomes a
``yolo.YoloDataset`` config. A folder laid out as YOLO (``images/`` and ``labels/``, or
``train/images`` and ``train/labels``) without a ``data.yaml`` is claimed too, to say what
is missing: the class names.
"""

from __future__ import annotations

import logging
import os

import yaml

from detplug_core import hookimpl
from detplug_core.errors import DataError
from detplug_yolo_format.data_yaml import load_data_yaml

__all__ = ["detplug_data_source"]

logger = logging.getLogger("detplug.data")


def _is_yolo_mapping(raw: object) -> bool:
    """YOLO's keys, not a detplug config's (whose ``train`` is a mapping)."""
    if not isinstance(raw, dict):
        return False
    paths = isinstance(raw.get("train"), str | list)
    return "names" in raw or ("nc" in raw and paths)


def _image_label_pairs(folder: str) -> list[str]:
    """The ``images`` folders that have a ``labels`` twin: ``images`` itself, or
    ``<split>/images`` (Roboflow's layout), relative to ``folder``."""
    pairs = []
    for sub in ["", *sorted(os.listdir(folder))]:
        base = os.path.join(folder, sub)
        if os.path.isdir(os.path.join(base, "images")) and os.path.isdir(
            os.path.join(base, "labels")
        ):
            pairs.append(os.path.join(sub, "images"))
    return pairs


def _missing_data_yaml(folder: str) -> DataError | None:
    pairs = _image_label_pairs(folder)
    if not pairs:
        return None
    inner = sorted(
        os.path.join(p, d)
        for p in pairs
        for d in os.listdir(os.path.join(folder, p))
        if os.path.isdir(os.path.join(folder, p, d))
    )
    listed = ", ".join((inner or pairs)[:4])
    return DataError(
        f"--data: '{folder}' holds YOLO images and labels ({listed}) but no data.yaml, so the "
        f"class names are unknown: write {os.path.join(folder, 'data.yaml')} with 'train:' "
        "and 'val:' (image folders relative to it) and 'names: [...]' (the class names in "
        "class-id order), then pass that file (docs/data.md)"
    )


def _data_yaml(path: str) -> str | None:
    if os.path.isdir(path):
        for name in ("data.yaml", "data.yml"):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        missing = _missing_data_yaml(path)
        if missing is not None:
            raise missing
        return None
    if not path.lower().endswith((".yaml", ".yml")):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return None
    return path if _is_yolo_mapping(raw) else None


@hookimpl
def detplug_data_source(path: str, image_dir: str | None) -> dict | None:
    found = _data_yaml(path)
    if found is None:
        return None
    data = load_data_yaml(found)
    for why in data.missing.values():
        logger.warning("%s: %s; that split is left out", data.path, why)
    splits = {s: {"type": "yolo.YoloDataset", "data": data.path, "split": s} for s in data.splits}
    return {"format": "yolo", "classes": data.names, "splits": splits}
