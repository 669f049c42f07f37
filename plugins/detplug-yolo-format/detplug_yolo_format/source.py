"""``--data``: recognising a YOLO data set (hook ``detplug_data_source``).

Recognised: a ``.yaml``/``.yml`` file with ``names`` and ``train`` keys, or a folder holding
``data.yaml``. Each split the file defines becomes a ``yolo.YoloDataset`` config.
"""

from __future__ import annotations

import os

import yaml

from detplug_core import hookimpl
from detplug_yolo_format.data_yaml import load_data_yaml

__all__ = ["detplug_data_source"]


def _data_yaml(path: str) -> str | None:
    if os.path.isdir(path):
        for name in ("data.yaml", "data.yml"):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        return None
    if not path.lower().endswith((".yaml", ".yml")):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return None
    return path if isinstance(raw, dict) and "names" in raw and "train" in raw else None


@hookimpl
def detplug_data_source(path: str, image_dir: str | None) -> dict | None:
    found = _data_yaml(path)
    if found is None:
        return None
    data = load_data_yaml(found)
    splits = {s: {"type": "yolo.YoloDataset", "data": data.path, "split": s} for s in data.splits}
    return {"format": "yolo", "classes": data.names, "splits": splits}
