"""Building components from config dicts, with errors that name the config key path.

A component usually builds its own children (``FCOS`` builds ``backbone``, ``neck``,
``head``) by passing the sub-dict it received to ``REG.build``. To report an error as
``model.head.num_clases`` without every component threading a path through, ``build`` keeps
a small stack of the dicts it is building: a nested ``build`` of a dict that was an argument
of the enclosing build inherits ``<outer path>.<argument name>``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from detplug_core.errors import BuildError, ComponentError, DetplugError
from detplug_core.registry.argcheck import explain_refusal, find_mismatch
from detplug_core.registry.provenance import provider_of


class ScopedLookup(Protocol):
    """What building needs of a registry (:class:`detplug_core.registry.Registry` is one;
    named here so that this module does not import the one that calls it)."""

    name: str
    scope: str

    @property
    def root(self) -> ScopedLookup: ...

    def walk(self) -> Iterator[ScopedLookup]: ...

    def find_scope(self, scope: str) -> ScopedLookup: ...

    def get(self, key: Any) -> Any: ...


# Each frame maps id(sub-config) -> its key path, for the build in progress.
_FRAMES: contextvars.ContextVar[tuple[dict[int, str], ...]] = contextvars.ContextVar(
    "detplug_build_frames", default=()
)


def _child_paths(cfg: Mapping, path: str) -> dict[int, str]:
    paths: dict[int, str] = {}
    for key, value in cfg.items():
        if isinstance(value, Mapping):
            paths[id(value)] = f"{path}.{key}"
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    paths[id(item)] = f"{path}.{key}.{i}"
    return paths


def _infer_path(cfg: Mapping, type_name: str) -> str:
    for frame in reversed(_FRAMES.get()):
        if id(cfg) in frame:
            return frame[id(cfg)]
    return type_name


def accepted_parameters(obj: Any) -> tuple[list[str], bool]:
    """Names ``obj`` accepts as keywords, and whether it takes ``**kwargs``."""
    import inspect  # imported here: keeps `import detplug_core` light

    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return [], True
    names, var_kw = [], False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.append(p.name)
    return names, var_kw


def build_from_cfg(
    cfg: Any, registry: ScopedLookup, *, path: str | None = None, default_args: dict | None = None
) -> Any:
    """Build the component described by ``cfg``.

    ``cfg["type"]`` is a registered name, ``"scope.Name"`` or a class/function itself.
    ``cfg["_scope_"]`` makes that scope the starting point for this build and every nested
    build inside it. ``default_args`` fill arguments the config does not set or sets to
    null (``in_channels: null``: "let the parent component fill it in").
    """
    if not isinstance(cfg, Mapping):
        raise BuildError(f"{path or registry.name}: expected a dict with 'type', got {cfg!r}")
    if "type" not in cfg:
        where = path or _infer_path(cfg, registry.name)
        raise BuildError(f"{where}: missing 'type' (a {registry.name} name); got keys {list(cfg)}")
    args = dict(cfg)
    type_ = args.pop("type")
    scope = args.pop("_scope_", None)
    where = path or _infer_path(cfg, str(type_))
    start = registry.find_scope(scope) if scope else _current_scope(registry)
    try:
        obj = start.get(type_) if isinstance(type_, str) else type_
    except DetplugError as err:
        located = type(err)(f"{where}.type: {err}")
        located.key_path = f"{where}.type"
        raise located from None
    for key, value in (default_args or {}).items():
        if args.get(key) is None:
            args[key] = value

    name = getattr(obj, "__name__", str(type_))
    accepted, var_kw = accepted_parameters(obj)
    if not var_kw:
        for key in args:
            if key not in accepted:
                import difflib

                close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise BuildError(
                    f"{where}.{key}: {name} has no parameter '{key}'{hint} "
                    f"Accepted parameters: {', '.join(accepted) or '(none)'}"
                )
    config_args = {k: v for k, v in cfg.items() if k not in _META_KEYS}
    mismatch = find_mismatch(obj, config_args, where, name)
    frame = _child_paths(cfg, where)
    frames_token = _FRAMES.set(_FRAMES.get() + (frame,))
    scope_token = _SCOPE.set(start) if scope else None
    try:
        built = obj(**args)
    except (TypeError, ValueError) as err:
        # A missing required argument is a config error, not a bug.
        if isinstance(err, TypeError) and _is_signature_error(err, obj):
            raise BuildError(f"{where}: {name}: {err}") from None
        if mismatch is not None:  # a value of the wrong type
            raise mismatch from err
        refused = explain_refusal(err, config_args, where, name, provider_of(obj))
        if refused is None:
            raise _component_failure(err, where, name, obj) from err
        raise refused from err
    except DetplugError as err:
        # A component's own value check ("rule: must be greater or less") gets the key path
        # of the config that built it; errors of nested builds already start with theirs.
        if str(err).startswith(where):
            raise
        try:
            wrapped = type(err)(f"{where}: {err}")
        except TypeError:  # an error class with a different constructor
            raise err from None
        raise wrapped.with_traceback(err.__traceback__) from None
    except Exception as err:
        if mismatch is not None:  # a value of the wrong type
            raise mismatch from err
        raise _component_failure(err, where, name, obj) from err
    finally:
        _FRAMES.reset(frames_token)
        if scope_token is not None:
            _SCOPE.reset(scope_token)
    if mismatch is not None:  # accepted silently, but would fail later
        raise mismatch
    return built


_META_KEYS = ("type", "_scope_")


def _component_failure(err: Exception, where: str, name: str, obj: Any) -> ComponentError:
    """A component raised something that is not a config problem: a bug, exit 1."""
    text = (str(err).strip().splitlines() or [""])[0]
    failure = ComponentError(
        f"{where}: building {name} ({provider_of(obj)}) failed: {type(err).__name__}: {text} "
        "(a bug in that plugin, or a value it does not check; --debug shows the traceback)"
    )
    failure.key_path = where
    return failure


_SCOPE: contextvars.ContextVar[ScopedLookup | None] = contextvars.ContextVar(
    "detplug_build_scope", default=None
)


def _current_scope(registry: ScopedLookup) -> ScopedLookup:
    """Inside a ``_scope_`` build, nested builds of the same tree start from that scope."""
    scoped = _SCOPE.get()
    if scoped is not None and scoped.root is registry.root:
        return scoped
    if scoped is not None:
        # A sub-tree scoped to "fcos" also starts other trees (e.g. TRANSFORMS) at their
        # "fcos" child when one exists.
        for reg in registry.root.walk():
            if reg.scope == scoped.scope:
                return reg
    return registry


def _is_signature_error(err: TypeError, obj: Any) -> bool:
    msg = str(err)
    name = getattr(obj, "__name__", "")
    return ("required" in msg and "argument" in msg) and (name in msg or "__init__" in msg)
