"""``load_from``: load model weights only, and report in one table what did not fit.

Fine-tuning across class lists: tensors whose shape differs (a head made for another class
count) are skipped and keep their initial values. A model that declares its class-indexed
tensors (``class_tensors``, see :func:`class_layouts`) can also keep the rows of the classes
both lists share, by name (``class_map: by_name``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from detplug_core.errors import ConfigError
from detplug_core.runner.checkpoint import checkpoint_classes, extract_state_dict, load_file

CLASS_MAPS = ("by_position", "by_name")
# Class slots that name no class (torchvision's COCO heads carry both).
PLACEHOLDER_CLASSES = frozenset({"N/A", "__background__", ""})
# torchvision's weights names: ``<Builder>_Weights.<VARIANT>``.
WEIGHTS_NAME = re.compile(r"^[A-Za-z0-9_]+_Weights\.[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class LoadSpec:
    """``load_from`` as written: a path (or a published weights name), or
    ``{path: ..., class_map: by_position | by_name}``."""

    path: str
    class_map: str = "by_position"

    @classmethod
    def parse(cls, value: Any) -> LoadSpec:
        if isinstance(value, str | os.PathLike):
            return cls(os.fspath(value))
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"path", "class_map"})
            if unknown or not isinstance(value.get("path"), str):
                raise ConfigError(
                    "load_from: expected a path or {path: PATH, class_map: by_name}, got keys "
                    f"{sorted(value)}"
                )
            class_map = value.get("class_map") or "by_position"
            if class_map not in CLASS_MAPS:
                raise ConfigError(
                    f"load_from.class_map: must be one of {', '.join(CLASS_MAPS)}, got "
                    f"{class_map!r}"
                )
            return cls(value["path"], class_map)
        raise ConfigError(f"load_from: expected a path or a mapping, got {type(value).__name__}")


@dataclass
class LoadReport:
    """What :func:`load_weights` loaded, skipped and why: one row per module and reason."""

    loaded: int = 0
    total: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    # (module, why) for class-indexed tensors loaded in part (class_map: by_name) or skipped
    # because the class count differs.
    classes: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said after the table

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.classes)

    def rows(self) -> list[tuple[str, int, str]]:
        """``(module, number of tensors, why)``, grouped so a whole neck is one row."""
        rows: list[tuple[str, int, str]] = []
        class_modules = {module for module, _ in self.classes}
        rows += [(m, n, why) for (m, why), n in _count_by_module(self.classes).items()]
        shapes: dict[str, list[str]] = {}
        for key, theirs, ours in self.mismatched:
            if _module(key) not in class_modules:
                shapes.setdefault(_module(key), []).append(f"{list(theirs)} -> {list(ours)}")
        for module, changes in shapes.items():
            rows.append((module, len(changes), "shape differs: " + ", ".join(changes)))
        for keys, why in (
            (self.missing, "not in the checkpoint: initialised"),
            (self.unexpected, "not in the model: ignored"),
        ):
            for prefix, n in _group(keys).items():
                rows.append((prefix, n, why))
        return rows

    def lines(self) -> list[str]:
        """The report as an aligned table (empty when everything loaded)."""
        rows = self.rows()
        if not rows:
            return list(self.notes)
        width = max(len("module"), *(len(m) for m, _, _ in rows))
        head = (
            f"loaded {self.loaded} of {self.total} model tensors; "
            "not loaded as is (kept as initialised unless said otherwise):"
        )
        out = [head, f"  {'module'.ljust(width)}  tensors  why"]
        out += [f"  {m.ljust(width)}  {n:>7}  {why}" for m, n, why in rows]
        return out + self.notes


def _module(key: str) -> str:
    return key.rsplit(".", 1)[0] if "." in key else key


def _count_by_module(items: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def _group(keys: Sequence[str], depth: int = 2) -> dict[str, int]:
    """Keys counted under their first ``depth`` name parts (``neck.fpn``: 24)."""
    out: dict[str, int] = {}
    for key in keys:
        parts = key.split(".")
        prefix = ".".join(parts[:depth]) if len(parts) > depth else _module(key)
        out[prefix] = out.get(prefix, 0) + 1
    return out


def read_source(path: str, published: Mapping[str, Callable[[], Any]]) -> object:
    """The contents of ``load_from``: a file, or published weights by name (``published``
    maps each name the installed plugins offer to its loader)."""
    if not os.path.exists(path) and WEIGHTS_NAME.match(path):
        if path not in published:
            offered = ", ".join(sorted(published)) or "none (install detplug-fcos, ...)"
            raise ConfigError(
                f"load_from: {path}: no installed plugin converts these weights (their "
                f"architecture is not one detplug describes); supported: {offered}"
            )
        return published[path]()
    return load_file(path)


def class_layouts(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """``model.class_tensors``: ``{module name: (extra_slots, rows_per_class)}`` for each
    module whose weight/bias rows are indexed by class: ``(0, 1)`` for plain class logits,
    ``(1, 1)`` for logits with a leading background slot, ``(1, 4)`` for class-specific box
    deltas. Several anchors per location are found from the shape (``[A * C, ...]``).
    A model that declares nothing: ``{}``."""
    declared = model.class_tensors if hasattr(model, "class_tensors") else {}
    return {str(k): (int(v[0]), int(v[1])) for k, v in dict(declared).items()}


def _class_rows(
    tensor: torch.Tensor, num_classes: int, extra: int, per_class: int
) -> torch.Tensor | None:
    """``tensor`` viewed as ``[groups, extra + C, per_class, ...]``, or None if it is not."""
    size = (num_classes + extra) * per_class
    if tensor.ndim == 0 or tensor.shape[0] % size:
        return None
    return tensor.reshape(
        tensor.shape[0] // size, num_classes + extra, per_class, *tensor.shape[1:]
    )


def _map_by_name(ours: Sequence[str], theirs: Sequence[str]) -> list[int | None]:
    index = {name: i for i, name in enumerate(theirs) if name not in PLACEHOLDER_CLASSES}
    return [index.get(name) for name in ours]


def _remap(
    value: torch.Tensor,
    own: torch.Tensor,
    layout: tuple[int, int],
    sources: list[int | None],
    num_theirs: int,
) -> torch.Tensor | None:
    """``own`` with the rows of each class whose source is known taken from ``value``."""
    extra, per_class = layout
    src = _class_rows(value, num_theirs, extra, per_class)
    out = own.detach().clone()
    dst = _class_rows(out, len(sources), extra, per_class)
    if src is None or dst is None or src.shape[0] != dst.shape[0] or src.shape[3:] != dst.shape[3:]:
        return None
    dst[:, :extra] = src[:, :extra]
    for j, i in enumerate(sources):
        if i is not None:
            dst[:, extra + j] = src[:, extra + i]
    return out


def load_weights(
    model: torch.nn.Module,
    path: str | os.PathLike,
    loaded: object = None,
    *,
    classes: Sequence[str] | None = None,
    class_map: str = "by_position",
) -> LoadReport:
    """Load the weights of ``path`` (or of ``loaded``, its contents when already read) into
    ``model`` where names and shapes match.

    ``classes``: the model's class names (the training data's). With ``class_map="by_name"``
    the class-indexed tensors the model declares keep the rows of same-named classes (placeholder
    slots such as ``N/A`` never match); the other rows keep their initial values."""
    obj = load_file(path) if loaded is None else loaded
    weights = extract_state_dict(obj, path)
    theirs = checkpoint_classes(obj)
    own = model.state_dict()
    layouts = class_layouts(model) if class_map == "by_name" else {}
    if class_map == "by_name" and not (layouts and theirs and classes):
        lacking = [
            what
            for what, ok in (
                (f"{type(model).__name__} declares no class_tensors", layouts),
                (f"{path} has no class names in its meta", theirs),
                ("the data has no class names", classes),
            )
            if not ok
        ]
        raise ConfigError(f"load_from.class_map: by_name needs class names: {'; '.join(lacking)}")
    sources = _map_by_name(classes or [], theirs or [])
    report = LoadReport(total=len(own))
    usable, partial = {}, set()
    for key, value in weights.items():
        module = _module(key)
        if key not in own:
            report.unexpected.append(key)
        elif module in layouts:
            remapped = _remap(value, own[key], layouts[module], sources, len(theirs or []))
            if remapped is None:
                report.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
                continue
            usable[key] = remapped
            partial.add(key)
            report.classes.append((module, _kept_text(classes or [], sources)))
        elif own[key].shape != value.shape:
            report.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
            if theirs is not None and classes is not None and len(theirs) != len(classes):
                report.classes.append(
                    (module, f"class count differs: checkpoint {len(theirs)}, model {len(classes)}")
                )
        else:
            usable[key] = value
    report.missing = [k for k in own if k not in weights]
    if class_map == "by_position" and theirs and classes and list(theirs) != list(classes):
        if len(theirs) == len(classes):
            report.notes.append(
                f"class names differ (checkpoint: {_names(theirs)}; data: {_names(classes)}): "
                "same-shaped class rows were loaded by position; load_from.class_map: by_name "
                "keeps only same-named ones"
            )
    report.loaded = len(usable) - len(partial)
    model.load_state_dict(usable, strict=False)
    return report


def _kept_text(classes: Sequence[str], sources: list[int | None]) -> str:
    kept = [c for c, s in zip(classes, sources, strict=True) if s is not None]
    new = [c for c, s in zip(classes, sources, strict=True) if s is None]
    text = f"class_map by_name: kept {len(kept)} of {len(classes)} classes"
    if kept:
        text += f" ({_names(kept)})"
    if new:
        text += f"; initialised {_names(new)}"
    return text


def _names(names: Sequence[str], limit: int = 6) -> str:
    more = f", +{len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
