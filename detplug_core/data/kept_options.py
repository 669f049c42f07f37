"""``--data``: which keys of the recipe's dataset config the new data set keeps.

The recipe's dataset (``train_dataloader.dataset``, through wrappers) is replaced by the one
a data plugin makes of ``--data PATH``. What the user or the recipe said about *how* to read
data is kept; what described the recipe's own data is not:

* Options (``transforms``, ``filter_empty``, ``on_missing_image``, ``on_unknown_class``,
  ``on_bad_image``, ``scan_images``, ``exif_orientation``, ``with_masks``: a mask recipe
  needs the masks of the new data too) and every key a command-line
  override set on the dataset are applied to the new dataset, or refused by name when its
  class has no such parameter (a ``DataError``: never dropped silently).
* Keys the data plugin sets (where the data is, its split, its classes) come from the data;
  an override of one of them is refused by name.
* The recipe's other keys (its own data's location, generator settings) are left out, named
  in one INFO line.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from detplug_core.config.tree import split_key_path
from detplug_core.errors import DataError

__all__ = ["OPTION_KEYS", "keep_options", "leaf_path", "override_keys"]

logger = logging.getLogger("detplug.data")

OPTION_KEYS = (
    "transforms",
    "filter_empty",
    "on_missing_image",
    "on_unknown_class",
    "on_bad_image",
    "scan_images",
    "exif_orientation",
    "with_masks",
)


def leaf_path(dataset: Any) -> list[str]:
    """The key path from a dataloader's ``dataset`` to the dataset that ``--data`` replaces:
    ``[]``, or through wrappers ``["dataset"]``, ``["datasets", "0"]``, ..."""
    if isinstance(dataset, Mapping) and isinstance(dataset.get("dataset"), Mapping):
        return ["dataset", *leaf_path(dataset["dataset"])]
    if isinstance(dataset, Mapping) and isinstance(dataset.get("datasets"), list):
        if dataset["datasets"]:
            return ["datasets", "0", *leaf_path(dataset["datasets"][0])]
    return []


def override_keys(overrides: Sequence[str], section: str, leaf: list[str]) -> set[str] | None:
    """The leaf dataset's keys that ``overrides`` set in ``section``; None when an override
    replaced the whole leaf dataset (every key of it is then the user's)."""
    prefix = [section, "dataset", *leaf]
    keys: set[str] = set()
    for override in overrides:
        key_text = override.partition("=")[0].lstrip("+").rstrip("+")
        try:
            segments = split_key_path(key_text)
        except ValueError:
            continue
        if segments[: len(prefix)] != prefix:
            continue
        if len(segments) == len(prefix):
            return None
        keys.add(segments[len(prefix)])
    return keys


def _parameters(kind: Any) -> set[str] | None:
    """The constructor parameters of the registered dataset ``kind`` (None: unknown, or it
    takes ``**kwargs``)."""
    from detplug_core.registry import DATASETS

    try:
        cls = DATASETS.get(kind)
        params = inspect.signature(cls).parameters
    except Exception:  # an unknown type is reported where the dataset is built
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return set(params)


def keep_options(old: Any, new: Mapping, where: str, user_keys: set[str] | None) -> dict:
    """``new`` (a data plugin's dataset config) with the options of ``old`` (the recipe's
    leaf dataset config at ``where``) kept as the module docstring says."""
    result = dict(new)
    if not isinstance(old, Mapping):
        return result
    user = set(old) if user_keys is None else user_keys
    accepted = _parameters(new.get("type"))
    dropped = []
    for key, value in old.items():
        if key == "type":
            continue
        if key in new:
            if key in user and value != new[key]:
                raise DataError(
                    f"{where}.{key}: --data sets it from the data ({new[key]!r}); drop the "
                    f"override {where}.{key}={value!r}"
                )
            continue
        if key in OPTION_KEYS or key in user:
            if accepted is not None and key not in accepted:
                raise DataError(
                    f"{where}.{key}: {new.get('type')} (the --data data set) has no option "
                    f"'{key}'; its options: {', '.join(sorted(accepted - set(new)))}"
                )
            result[key] = value
        else:
            dropped.append(key)
    if dropped:
        logger.info(
            "--data: %s: the recipe's %s keys %s describe its own data; not used",
            where, old.get("type"), ", ".join(dropped),
        )  # fmt: skip
    return result
