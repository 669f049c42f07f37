"""Calling runner stages: one ordered list per stage, config hooks and plugin hookimpls alike.

Every implementation of a stage gets a place on one priority scale (0 = first .. 100 = last):

* config hooks (and the runner's built-in hooks): their ``priority``;
* plugin hookimpls: ``@hookimpl(tryfirst=True)`` = HIGHEST (0), plain = NORMAL (50),
  ``@hookimpl(trylast=True)`` = LOWEST (100).

Ties keep: built-in hooks first, then config hooks in ``hooks:`` order, then plugin
hookimpls in plugin load order (entry-point name; plugins added by the test fixture last).
The lists are computed once, when the runner is built; a stage nobody implements costs one
dictionary lookup. pluggy is used for what it is good at (finding and validating plugin
hookimpls), not for calling runner stages; ``hookwrapper``/``wrapper`` impls of runner stages
are refused (write a ``tryfirst`` and a ``trylast`` impl instead).

The dispatcher calls each implementation itself, so an exception becomes a
:class:`HookError` naming the stage and the hook that raised (config hook with its entry and
plugin, or the plugin function), with no traceback inspection.
"""

from __future__ import annotations

import difflib
import inspect
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from detplug_core.env import TRACE_HOOKS, env_selection
from detplug_core.errors import ConfigError, DetplugError
from detplug_core.hookspecs import RUNNER_STAGES
from detplug_core.runner.hook import PRIORITIES, Hook


class HookError(DetplugError):
    """A hook raised: the message names the stage and who implemented it."""

    exit_code = 1

    def __init__(self, message: str, stage: str, culprit: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.culprit = culprit


@dataclass(frozen=True)
class ConfigHook:
    """A hook object with its place: ``where`` is its config path (``hooks.3``) or
    ``built-in``; ``name`` the optional ``name:`` of its config entry."""

    hook: Any
    priority: int
    where: str
    name: str | None = None

    @property
    def builtin(self) -> bool:
        return self.where == "built-in"


@dataclass(frozen=True)
class _Impl:
    fn: Callable[..., Any]
    argnames: tuple[str, ...] | None  # None: accepts every argument (**kwargs)
    label: str  # for errors: "config hook EMAHook (hooks.1, priority 50, plugin ...)"
    short: str  # for DETPLUG_TRACE_HOOKS: "hooks.1:EMAHook", "built-in:LoggerHook", "fcos"


def _plugin_of(cls: type) -> str:
    """``plugin <distribution> <version>`` that registered ``cls`` (recorded at
    registration), else its module."""
    from detplug_core.registry.registry import provenance_of

    origin = provenance_of(cls)
    if origin is not None:
        return f"plugin {origin}"
    return f"module {getattr(cls, '__module__', '?')}"


def _spec_args(stage: str) -> tuple[str, ...]:
    from detplug_core import hookspecs

    return tuple(inspect.signature(getattr(hookspecs, stage)).parameters)


def _method_args(method: Any, stage: str, where: str, cls_name: str) -> tuple[str, ...] | None:
    spec = _spec_args(stage)
    names: list[str] = []
    for p in inspect.signature(method).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind is p.VAR_POSITIONAL:
            continue
        if p.name in spec:
            names.append(p.name)
        elif p.default is p.empty:
            raise ConfigError(
                f"{where}: {cls_name} cannot be used as a hook: {stage}() asks for "
                f"'{p.name}', which the stage does not pass (it passes {', '.join(spec)})"
            )
    return tuple(names)


def _check_stage_names(hook: Any, where: str) -> None:
    """A method named almost like a stage is a typo that would never run."""
    for name in dir(type(hook)):
        if name.startswith(("before_", "after_")) and name not in RUNNER_STAGES:
            close = difflib.get_close_matches(name, RUNNER_STAGES, n=1, cutoff=0.85)
            if close:
                raise ConfigError(
                    f"{where}: {type(hook).__name__}.{name} is not a runner stage; "
                    f"did you mean '{close[0]}'?"
                )


def _plugin_impls(pm: Any, stage: str, load_rank: dict[str, int]) -> list[tuple[int, int, _Impl]]:
    caller = getattr(pm.hook, stage, None)
    if caller is None:
        return []
    out = []
    for impl in caller.get_hookimpls():
        fn = impl.function
        label = (
            f"plugin '{impl.plugin_name}' function "
            f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
        )
        if impl.hookwrapper or getattr(impl, "wrapper", False):
            raise ConfigError(
                f"{label}: hookwrapper/wrapper impls of the runner stage '{stage}' are not "
                "supported; use @hookimpl(tryfirst=True) and @hookimpl(trylast=True)"
            )
        if impl.tryfirst:
            priority = PRIORITIES["HIGHEST"]
        elif impl.trylast:
            priority = PRIORITIES["LOWEST"]
        else:
            priority = PRIORITIES["NORMAL"]
        rank = load_rank.get(impl.plugin_name, len(load_rank))
        out.append((priority, rank, _Impl(fn, tuple(impl.argnames), label, impl.plugin_name)))
    return out


def _load_ranks(pm: Any) -> dict[str, int]:
    """Plugin name -> position: the loader's order, then (test fixtures) registration order."""
    from detplug_core.plugins.state import records

    rank = {record.name: i for i, record in enumerate(records())}
    for name, _ in pm.list_name_plugin():
        rank.setdefault(name, len(rank))
    return rank


class HookDispatcher:
    """The ordered hook lists of one Runner; :meth:`call` runs one stage."""

    def __init__(self, pm: Any, hooks: Iterable[ConfigHook]) -> None:
        entries = list(hooks)
        #: ``id(hook) -> name`` under which a hook's state is saved (:func:`state_names`).
        self.state_names = state_names(entries)
        order = sorted(range(len(entries)), key=lambda i: (entries[i].priority, i))
        #: Hook entries (built-in and config) in calling order (priority, then list order).
        self.entries: list[ConfigHook] = [entries[i] for i in order]
        self.hooks: list[Any] = [entry.hook for entry in self.entries]
        ranked: dict[str, list[tuple[int, int, int, _Impl]]] = {s: [] for s in RUNNER_STAGES}
        for i in order:
            entry = entries[i]
            for stage, impl in self._hook_impls(entry):
                ranked[stage].append((entry.priority, 0, i, impl))
        load_rank = _load_ranks(pm)
        for stage in RUNNER_STAGES:
            for priority, rank, impl in _plugin_impls(pm, stage, load_rank):
                ranked[stage].append((priority, 1, rank, impl))
        self._stages: dict[str, tuple[_Impl, ...]] = {
            stage: tuple(item[3] for item in sorted(items, key=lambda t: t[:3]))
            for stage, items in ranked.items()
            if items
        }
        traced = _traced_stages()
        if traced is not None:
            self.call = self._tracing(traced)  # type: ignore[method-assign]

    @staticmethod
    def _hook_impls(entry: ConfigHook) -> list[tuple[str, _Impl]]:
        hook, cls = entry.hook, type(entry.hook)
        _check_stage_names(hook, entry.where)
        label = (
            f"{'built-in' if entry.builtin else 'config'} hook {cls.__name__} "
            f"({entry.where}, priority {entry.priority}, {_plugin_of(cls)})"
        )
        impls = []
        for stage in RUNNER_STAGES:
            method = getattr(hook, stage, None)
            if not callable(method) or getattr(cls, stage, None) is getattr(Hook, stage, None):
                continue
            argnames = _method_args(method, stage, entry.where, cls.__name__)
            short = f"{entry.where}:{cls.__name__}"
            impls.append((stage, _Impl(method, argnames, label, short)))
        return impls

    def has(self, stage: str) -> bool:
        """Whether anyone implements ``stage``."""
        return stage in self._stages

    def labels(self, stage: str) -> list[str]:
        """Who implements ``stage``, in calling order (for ``docs`` and debugging)."""
        return [impl.label for impl in self._stages.get(stage, ())]

    def _tracing(self, traced: set[str]) -> Callable[..., None]:
        call = self.call

        def traced_call(stage: str, **kwargs: Any) -> None:
            if stage in traced:
                names = ", ".join(impl.short for impl in self._stages.get(stage, ())) or "(none)"
                print(f"[detplug hook] {stage} -> {names}", file=sys.stderr)
            call(stage, **kwargs)

        return traced_call

    def call(self, stage: str, **kwargs: Any) -> None:
        """Call every implementation of ``stage`` in order; the first exception stops the
        stage and becomes a :class:`HookError` naming the implementation."""
        for impl in self._stages.get(stage, ()):
            names = impl.argnames
            try:
                if names is None:
                    impl.fn(**kwargs)
                else:
                    impl.fn(**{n: kwargs[n] for n in names})
            except HookError:
                raise
            except Exception as err:
                raise HookError(
                    f"hook stage '{stage}' failed in {impl.label}: {type(err).__name__}: {err}",
                    stage,
                    impl.label,
                ) from err


def _traced_stages() -> set[str] | None:
    """``DETPLUG_TRACE_HOOKS``: None (off), every stage (``1``) or the listed ones."""
    traced = env_selection(TRACE_HOOKS)
    if traced is not None and "*" in traced:
        return set(RUNNER_STAGES)
    return traced


def state_names(entries: Iterable[ConfigHook]) -> dict[int, str]:
    """``id(hook) -> state name`` for the hooks that keep state: ``<Class>`` for the first
    hook of a class, ``<Class>.<k>`` for the k-th after it, ``<Class>:<name>`` when the
    config entry has ``name:``. Adding, removing or reordering hooks of other classes never
    changes a hook's name."""
    seen: dict[str, int] = {}
    names: dict[int, str] = {}
    for entry in entries:
        cls = type(entry.hook).__qualname__
        if entry.name:
            names[id(entry.hook)] = f"{cls}:{entry.name}"
            continue
        k = seen.get(cls, 0)
        seen[cls] = k + 1
        names[id(entry.hook)] = cls if k == 0 else f"{cls}.{k}"
    return names
