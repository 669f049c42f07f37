"""``num_classes: auto``: the model takes its class count from the data.

Every ``num_classes`` key under ``model`` is checked against the data's class list: ``auto``
becomes ``len(classes)`` before the model is built; a number that disagrees is a
ConfigError (exit 2) naming both numbers. The class list comes from, in order: the config's
``data.classes`` (written by ``--data``), a dataloader's ``dataset.classes`` list, or the
``classes`` of the dataset built once from the first dataloader section.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from detplug_core.errors import ConfigError

__all__ = [
    "AUTO",
    "check_num_classes",
    "data_classes",
    "num_classes_entries",
    "resolve_num_classes",
]

AUTO = "auto"
_SECTIONS = ("train_dataloader", "val_dataloader", "test_dataloader")


def num_classes_entries(node: Any, path: str = "model") -> Iterator[tuple[MutableMapping, str]]:
    """``(mapping, key path)`` of every ``num_classes`` key under ``node``."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}"
            if key == "num_classes":
                yield node, where  # type: ignore[misc]
            else:
                yield from num_classes_entries(value, where)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from num_classes_entries(item, f"{path}.{i}")


def _innermost(dataset: Any) -> Any:
    while isinstance(dataset, Mapping) and isinstance(dataset.get("dataset"), Mapping):
        dataset = dataset["dataset"]
    return dataset


def data_classes(cfg: Mapping) -> tuple[list[str], str]:
    """The data's class names and where they came from (for messages)."""
    data = cfg.get("data")
    if isinstance(data, Mapping) and isinstance(data.get("classes"), list):
        return [str(c) for c in data["classes"]], f"data.classes ({data.get('path')})"
    sections = [k for k in _SECTIONS if isinstance(cfg.get(k), Mapping) and cfg[k].get("dataset")]
    for key in sections:
        listed = _innermost(cfg[key]["dataset"])
        if isinstance(listed, Mapping) and isinstance(listed.get("classes"), list):
            return [str(c) for c in listed["classes"]], f"{key}.dataset.classes"
    if not sections:
        raise ConfigError(
            "model: num_classes: auto needs a dataloader (or --data) to count classes"
        )
    from detplug_core.registry import DATASETS

    key = sections[0]
    dataset_cfg = dict(cfg[key]["dataset"])
    if "transforms" in dataset_cfg:
        dataset_cfg["transforms"] = None  # only the classes are needed
    quiet = logging.getLogger("detplug.data")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the dataloader builds it again and logs its summary then
    try:
        dataset = DATASETS.build(dataset_cfg, path=f"{key}.dataset")
    finally:
        quiet.setLevel(level)
    classes = getattr(dataset, "classes", None)
    if classes is None:
        raise ConfigError(
            f"model: num_classes: auto, but {key}.dataset ({type(dataset).__name__}) has no "
            "'classes'; set num_classes to a number"
        )
    return [str(c) for c in classes], f"{key}.dataset"


def resolve_num_classes(cfg: MutableMapping) -> list[str] | None:
    """Replace every ``num_classes: auto`` under ``cfg["model"]`` by the data's class count
    (in place) and check the fixed ones when ``data.classes`` (``--data``) is known; returns
    the class names, or None when there was nothing to resolve."""
    autos = [
        (node, where)
        for node, where in num_classes_entries(cfg.get("model"))
        if node["num_classes"] == AUTO
    ]
    data = cfg.get("data")
    if not autos and not (isinstance(data, Mapping) and data.get("classes")):
        return None  # fixed numbers are checked against the built datasets by the runner
    classes, source = data_classes(cfg)
    for node, _ in autos:
        node["num_classes"] = len(classes)
    check_num_classes(cfg.get("model"), classes, source)
    return classes


def check_num_classes(model_cfg: Any, classes: list[str], source: str) -> None:
    """A ConfigError when a ``num_classes`` under ``model`` is not ``len(classes)``."""
    for node, where in num_classes_entries(model_cfg):
        value = node["num_classes"]
        if value == AUTO or value == len(classes):
            continue
        shown = ", ".join(classes[:8]) + (", ..." if len(classes) > 8 else "")
        raise ConfigError(
            f"{where} is {value} but the data ({source}) has {len(classes)} classes "
            f"({shown}); set {where}: auto to take the count from the data"
        )
