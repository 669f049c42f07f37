"""``num_classes: auto``: the model takes its class count from the data.

Every ``num_classes`` key under ``model`` is checked against the data's class list: ``auto``
becomes ``len(classes)`` before the model is built; a number that disagrees is a
ConfigError (exit 2) naming both numbers. The class list comes from, in order: the config's
``data.classes`` (written by ``--data``), a dataloader's ``dataset.classes`` list, or the
``classes`` of the dataset built from the first dataloader section, which the runner then
hands to that section's dataloader (the data is read once). Code that knows the classes
already (a checkpoint's) passes them as ``known`` and nothing is built.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from detplug_core.errors import ConfigError

__all__ = [
    "AUTO",
    "ClassList",
    "check_num_classes",
    "data_classes",
    "find_classes",
    "num_classes_entries",
    "resolve_classes",
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


@dataclass(frozen=True)
class ClassList:
    """The data's class names, where they came from (for messages) and, when a dataset had
    to be built to count them, that dataset and its section (built with its transforms, so
    the dataloader of that section reuses it instead of building it again)."""

    names: list[str]
    source: str
    dataset: Any = None
    key: str | None = None


def find_classes(cfg: Mapping) -> ClassList:
    """The data's class list (module docstring for the order of the sources)."""
    data = cfg.get("data")
    if isinstance(data, Mapping) and isinstance(data.get("classes"), list):
        return ClassList([str(c) for c in data["classes"]], f"data.classes ({data.get('path')})")
    sections = [k for k in _SECTIONS if isinstance(cfg.get(k), Mapping) and cfg[k].get("dataset")]
    for key in sections:
        listed = _innermost(cfg[key]["dataset"])
        if isinstance(listed, Mapping) and isinstance(listed.get("classes"), list):
            return ClassList([str(c) for c in listed["classes"]], f"{key}.dataset.classes")
    if not sections:
        raise ConfigError(
            "model: num_classes: auto needs a dataloader (or --data) to count classes"
        )
    from detplug_core.registry import DATASETS

    key = sections[0]
    dataset = DATASETS.build(cfg[key]["dataset"], path=f"{key}.dataset")
    classes = getattr(dataset, "classes", None)
    if classes is None:
        raise ConfigError(
            f"model: num_classes: auto, but {key}.dataset ({type(dataset).__name__}) has no "
            "'classes'; set num_classes to a number"
        )
    return ClassList([str(c) for c in classes], f"{key}.dataset", dataset, key)


def data_classes(cfg: Mapping) -> tuple[list[str], str]:
    """The data's class names and where they came from (for messages)."""
    found = find_classes(cfg)
    return found.names, found.source


def resolve_classes(
    cfg: MutableMapping, known: list[str] | None = None, source: str = "the checkpoint"
) -> ClassList | None:
    """Replace every ``num_classes: auto`` under ``cfg["model"]`` by the class count (in
    place): the count of ``known`` (the classes a checkpoint was saved with, named
    ``source``), else of the data's class list (counted once, see :class:`ClassList`; the
    fixed numbers are then checked against it too). None when there was nothing to do."""
    autos = [
        (node, where)
        for node, where in num_classes_entries(cfg.get("model"))
        if node["num_classes"] == AUTO
    ]
    if known:  # fixed numbers are the weights' business (their shapes are checked)
        for node, _ in autos:
            node["num_classes"] = len(known)
        return ClassList(list(known), source)
    data = cfg.get("data")
    if not autos and not (isinstance(data, Mapping) and data.get("classes")):
        return None  # fixed numbers are checked against the built datasets by the runner
    found = find_classes(cfg)
    for node, _ in autos:
        node["num_classes"] = len(found.names)
    check_num_classes(cfg.get("model"), found.names, found.source)
    return found


def resolve_num_classes(
    cfg: MutableMapping, known: list[str] | None = None, source: str = "the checkpoint"
) -> list[str] | None:
    """:func:`resolve_classes`, returning the class names (or None)."""
    found = resolve_classes(cfg, known, source)
    return found.names if found is not None else None


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
