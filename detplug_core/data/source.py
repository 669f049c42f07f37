"""``--data PATH``: recognise a user's data set and wire its splits into a config.

The data plugins recognise paths through the ``detplug_data_source`` hook (a YOLO
``data.yaml``, a COCO JSON, a VOC root, or any third-party format). The chosen plugin's split
configs replace the datasets of ``train_dataloader``, ``val_dataloader`` and
``test_dataloader``; the recipe's dataset options (``transforms``, ``filter_empty``,
``on_bad_image``, ...) and every key an override set on a dataset are kept, or refused by
name (:mod:`detplug_core.data.kept_options`). The config gets a top-level
``data: {path, format, classes}`` record, which ``num_classes: auto`` reads.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from detplug_core.data.kept_options import keep_options, leaf_path, override_keys
from detplug_core.errors import DataError

__all__ = ["DataSource", "apply_data_source", "find_data_source", "recognise_data_source"]

logger = logging.getLogger("detplug.data")

_SECTIONS = (("train", "train_dataloader"), ("val", "val_dataloader"), ("test", "test_dataloader"))


@dataclass(frozen=True)
class DataSource:
    """What a plugin made of a ``--data`` path."""

    path: str
    format: str
    classes: list[str]
    splits: dict[str, dict]


def recognise_data_source(
    path: str, image_dir: str | None = None, pm: Any = None
) -> DataSource | None:
    """What the data plugins make of ``path``: None when none recognises it, a DataError
    when several do (or the one that does finds it broken)."""
    from detplug_core.plugins import make_plugin_manager

    pm = pm if pm is not None else make_plugin_manager()
    answers = [a for a in pm.hook.detplug_data_source(path=path, image_dir=image_dir) if a]
    if not answers:
        return None
    if len(answers) > 1:
        formats = ", ".join(str(a.get("format")) for a in answers)
        raise DataError(f"--data: '{path}' is claimed by several formats: {formats}")
    answer = answers[0]
    splits = dict(answer.get("splits") or {})
    if "train" not in splits:
        raise DataError(f"--data: '{path}' ({answer.get('format')}) has no train split")
    return DataSource(
        path=os.path.abspath(path),
        format=str(answer.get("format")),
        classes=[str(c) for c in answer["classes"]],
        splits=splits,
    )


def find_data_source(path: str, image_dir: str | None = None, pm: Any = None) -> DataSource:
    """Ask every data plugin about ``path``; exactly one must recognise it."""
    from detplug_core.plugins import make_plugin_manager

    if not os.path.exists(path):
        raise DataError(f"--data: '{path}' does not exist")
    if image_dir is not None and not os.path.isdir(image_dir):
        raise DataError(f"--data-images: '{image_dir}' is not a folder")
    pm = pm if pm is not None else make_plugin_manager()
    source = recognise_data_source(path, image_dir, pm)
    if source is None:
        readers = sorted({i.plugin_name for i in pm.hook.detplug_data_source.get_hookimpls()})
        raise DataError(
            f"--data: '{path}' is not a data set any installed plugin recognises (plugins "
            f"that read data sets: {', '.join(readers) or 'none'}); expected a YOLO "
            "data.yaml, a COCO JSON file or a Pascal VOC folder"
        )
    return source


def _replace(old: Any, new: Mapping, where: str, user_keys: set[str] | None) -> dict:
    """``new`` in place of the leaf of the dataset config ``old`` (through wrappers: a
    ConcatDataset's first dataset), keeping the leaf's options."""
    if isinstance(old, Mapping) and isinstance(old.get("dataset"), Mapping):
        inner = _replace(old["dataset"], new, f"{where}.dataset", user_keys)
        return {**old, "dataset": inner}
    if isinstance(old, Mapping) and isinstance(old.get("datasets"), list) and old["datasets"]:
        return _replace(old["datasets"][0], new, f"{where}.datasets.0", user_keys)
    return keep_options(old, copy.deepcopy(dict(new)), where, user_keys)


def apply_data_source(
    cfg: MutableMapping, source: DataSource, overrides: Sequence[str] = ()
) -> None:
    """Point the config's dataloaders at ``source``'s splits (in place). ``overrides`` are
    the command line's ``KEY=VALUE`` overrides (already applied to ``cfg``): the dataset
    keys they set are the user's, applied to the new datasets or refused by name.

    No val split: validation runs on the train split (with a warning). A test split and no
    ``test_dataloader``: one is made from ``val_dataloader``'s settings."""
    splits = dict(source.splits)
    if "val" not in splits:
        logger.warning("--data %s: no val split; validating on the train split", source.path)
        splits["val"] = splits["train"]
    if "test" in splits and not cfg.get("test_dataloader") and cfg.get("val_dataloader"):
        cfg["test_dataloader"] = copy.deepcopy(dict(cfg["val_dataloader"]))
    for split, key in _SECTIONS:
        section = cfg.get(key)
        if not section or split not in splits:
            continue
        section = dict(section)
        old = section.get("dataset")
        user_keys = override_keys(overrides, key, leaf_path(old))
        section["dataset"] = _replace(old, splits[split], f"{key}.dataset", user_keys)
        cfg[key] = section
    cfg["data"] = {"path": source.path, "format": source.format, "classes": source.classes}
