"""Every ``torchvision.transforms.v2`` transform in TRANSFORMS under its own name.

Registered eagerly when the plugin loads, from whatever the installed torchvision provides,
so ``{type: RandomHorizontalFlip, p: 0.5}`` or ``{type: torchvision.ColorJitter, ...}``
works. Each is registered as a same-named subclass defined here (``isinstance`` with the v2
class holds), so that listings and error messages attribute it to this plugin. Arguments a YAML file cannot hold get config-friendly subclasses of the same name:
``ToDtype``/``ConvertImageDtype`` take dtype names (``float32``), and ``Compose``,
``RandomApply``, ``RandomChoice``, ``RandomOrder`` take lists of transform configs.

Instance masks (``tv_tensors.Mask``) move with the image through every geometric v2
transform; the transforms with a ``fill`` argument (``Pad``, ``RandomCrop``,
``RandomZoomOut``, ``RandomAffine``, ``RandomRotation``, ``RandomPerspective``,
``ElasticTransform``, ...) are registered as same-named subclasses whose plain ``fill``
fills the image only: masks are filled with 0 (background), where torchvision would write
the image's fill value (say 114) into every mask. A ``fill`` dict keyed by type names
(``{Image: 114, Mask: 0}``) is torchvision's per-type fill; a ``Mask`` entry is kept.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from detplug_core.errors import BuildError
from detplug_torchvision.registries import TRANSFORMS

__all__ = [
    "CLASSIFICATION_ONLY",
    "DETECTION_REPLACEMENTS",
    "build_transform",
    "mask_safe_fill",
    "parse_dtype",
    "v2_transform_names",
]

#: v2 names taken by detection transforms of this plugin: v2's ``MixUp`` mixes a batch for
#: classification (one-hot labels) and refuses boxes; ``MixUp`` here is the detection one
#: (transforms/multi_image.py, docs/augmentation.md).
DETECTION_REPLACEMENTS = frozenset({"MixUp"})

#: v2 transforms that mix a classification batch (one-hot labels) and refuse boxes: they stay
#: listed under their names, but building one is a BuildError that names the detection
#: alternatives, instead of a ValueError from a data worker once training has started.
CLASSIFICATION_ONLY = frozenset({"CutMix"})

_TV_TENSOR_TYPES = {
    "Image": tv_tensors.Image,
    "Video": tv_tensors.Video,
    "Mask": tv_tensors.Mask,
    "BoundingBoxes": tv_tensors.BoundingBoxes,
}


def build_transform(cfg: Mapping | Callable) -> Callable:
    """A transform from its config; an object that is already callable passes through."""
    if isinstance(cfg, Mapping):
        return TRANSFORMS.build(cfg)
    if callable(cfg):
        return cfg
    raise BuildError(f"a transform must be a config dict with 'type' or a callable, got {cfg!r}")


def parse_dtype(value: Any) -> torch.dtype | None:
    """``"float32"``, ``"torch.float32"`` or a torch.dtype as a torch.dtype (None stays)."""
    if value is None or isinstance(value, torch.dtype):
        return value
    name = str(value).removeprefix("torch.")
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise BuildError(f"unknown dtype {value!r}; use a torch dtype name such as 'float32'")
    return dtype


def _parse_dtype_arg(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return parse_dtype(value)
    out: dict[Any, Any] = {}
    for key, dtype in value.items():
        if isinstance(key, str) and key != "others":
            if key not in _TV_TENSOR_TYPES:
                known = ", ".join([*_TV_TENSOR_TYPES, "others"])
                raise BuildError(f"ToDtype: unknown tv_tensor type {key!r}; known: {known}")
            key = _TV_TENSOR_TYPES[key]
        out[key] = parse_dtype(dtype)
    return out


class ToDtype(v2.ToDtype):
    """``v2.ToDtype`` that also takes dtype names: ``{type: ToDtype, dtype: float32,
    scale: true}`` or ``dtype: {Image: float32, others: null}``."""

    def __init__(self, dtype: Any, scale: bool = False) -> None:
        super().__init__(_parse_dtype_arg(dtype), scale=scale)


class ConvertImageDtype(v2.ConvertImageDtype):
    """``v2.ConvertImageDtype`` that also takes a dtype name (default ``float32``)."""

    def __init__(self, dtype: Any = "float32") -> None:
        super().__init__(parse_dtype(dtype))


class Compose(v2.Compose):
    """``v2.Compose`` over transform configs (or built transforms)."""

    def __init__(self, transforms: Sequence[Mapping | Callable]) -> None:
        super().__init__([build_transform(t) for t in transforms])


class RandomApply(v2.RandomApply):
    """``v2.RandomApply`` over transform configs: all of them, with probability ``p``."""

    def __init__(self, transforms: Sequence[Mapping | Callable], p: float = 0.5) -> None:
        super().__init__([build_transform(t) for t in transforms], p=p)


class RandomChoice(v2.RandomChoice):
    """``v2.RandomChoice`` over transform configs: one of them, by ``p`` (uniform if None)."""

    def __init__(
        self, transforms: Sequence[Mapping | Callable], p: list[float] | None = None
    ) -> None:
        super().__init__([build_transform(t) for t in transforms], p=p)


class RandomOrder(v2.RandomOrder):
    """``v2.RandomOrder`` over transform configs: all of them, in a random order."""

    def __init__(self, transforms: Sequence[Mapping | Callable]) -> None:
        super().__init__([build_transform(t) for t in transforms])


def mask_safe_fill(name: str, fill: Any) -> dict:
    """torchvision's per-type ``fill`` from a config value: a number or per-channel list
    fills everything but masks, which get 0; a dict may name ``Image``, ``Video``, ``Mask``
    or ``others`` (masks still get 0 unless ``Mask`` is named)."""
    if not isinstance(fill, Mapping):
        return {tv_tensors.Mask: 0, "others": fill}
    out: dict[Any, Any] = {tv_tensors.Mask: 0}
    for key, value in fill.items():
        if isinstance(key, str) and key != "others":
            if key not in _TV_TENSOR_TYPES:
                known = ", ".join([*_TV_TENSOR_TYPES, "others"])
                raise BuildError(
                    f"{name}: fill names an unknown tv_tensor type {key!r}; known: {known}"
                )
            key = _TV_TENSOR_TYPES[key]
        out[key] = value
    return out


def _with_mask_safe_fill(name: str) -> type:
    """A same-named subclass of v2's ``name`` whose ``fill`` goes through
    :func:`mask_safe_fill`; made a global of this module so that it pickles."""
    base = getattr(v2, name)
    signature = inspect.signature(base.__init__)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:  # let torchvision's own __init__ report the wrong arguments
            bound = None
        if bound is not None and "fill" in bound.arguments:
            bound.arguments["fill"] = mask_safe_fill(name, bound.arguments["fill"])
            args, kwargs = bound.args[1:], bound.kwargs
        base.__init__(self, *args, **kwargs)

    __init__.__signature__ = signature  # type: ignore[attr-defined]  (registry's arg check)
    doc = f"``v2.{name}`` whose plain ``fill`` fills the image, masks with 0 (see module doc).\n\n"
    cls = type(
        name,
        (base,),
        {"__init__": __init__, "__module__": __name__, "__doc__": doc + (base.__doc__ or "")},
    )
    globals()[name] = cls
    return cls


def _takes_fill(name: str) -> bool:
    return "fill" in inspect.signature(getattr(v2, name).__init__).parameters


def _refused(name: str) -> type:
    """A same-named subclass of v2's ``name`` whose construction explains the refusal."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise BuildError(
            f"{name}: torchvision's v2.{name} mixes a classification batch (one-hot labels) "
            "and refuses boxes, so it cannot run in a detection pipeline; use MixUp or Mosaic "
            "with MultiImageMixDataset instead (docs/augmentation.md)"
        )

    return type(name, (getattr(v2, name),), {"__init__": __init__, "__module__": __name__})


_CONFIG_FRIENDLY = {
    cls.__name__: cls
    for cls in (ToDtype, ConvertImageDtype, Compose, RandomApply, RandomChoice, RandomOrder)
}


def v2_transform_names() -> list[str]:
    """Names of the public transform classes of the installed ``torchvision.transforms.v2``."""
    return sorted(
        name
        for name, obj in vars(v2).items()
        if not name.startswith("_")
        and inspect.isclass(obj)
        and issubclass(obj, v2.Transform)
        and obj is not v2.Transform
    )


def _register_all() -> None:
    """Every v2 transform under its own name (but DETECTION_REPLACEMENTS): torchvision's
    class itself, or this module's config-friendly subclass. The registry records that detplug-torchvision registered it."""
    for name in v2_transform_names():
        if name in DETECTION_REPLACEMENTS:
            continue
        if name in CLASSIFICATION_ONLY:
            TRANSFORMS.register(name, obj=_refused(name))
            continue
        if name not in _CONFIG_FRIENDLY and _takes_fill(name):
            TRANSFORMS.register(name, obj=_with_mask_safe_fill(name))
            continue
        TRANSFORMS.register(name, obj=_CONFIG_FRIENDLY.get(name) or getattr(v2, name))


_register_all()
