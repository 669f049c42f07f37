"""Calling runner stages through pluggy: config hooks and installed plugins' hookimpls.

Calling order of one stage (documented in docs/runner.md, tested in tests/runner):

1. plugin hookimpls marked ``@hookimpl(tryfirst=True)``;
2. config hooks, by ``priority`` (0 first), ties in ``hooks:`` list order;
3. plugin hookimpls, in plugin load order (entry-point name; plugins added by the test
   fixture last);
4. plugin hookimpls marked ``@hookimpl(trylast=True)``.

``hookwrapper``/``wrapper`` impls wrap all of these. pluggy calls the last registered impl
first, so plugins are re-registered in reverse load order and config hooks are registered
after them in reverse priority order.

A stage nobody implements is skipped without entering pluggy. An exception raised by an
implementation becomes a :class:`HookError` naming the stage and the hook class (with its
config entry) or the plugin function that raised.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import types
from typing import Any

import pluggy

from detplug_core.errors import ConfigError, DetplugError
from detplug_core.hookspecs import RUNNER_STAGES, hookimpl
from detplug_core.runner.hook import Hook, get_priority


class HookError(DetplugError):
    """A hook raised: the message names the stage and who implemented it."""

    exit_code = 1

    def __init__(self, message: str, stage: str, culprit: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.culprit = culprit


def _plugin_of(obj: Any) -> str:
    """``distribution version`` of the plugin whose package defines ``obj``."""
    from detplug_core.plugins.state import record_for_package

    package = (getattr(obj, "__module__", "") or "").split(".")[0]
    record = record_for_package(package)
    if record is not None:
        return f"plugin {record.distribution} {record.version}"
    return f"module {getattr(obj, '__module__', '?')}"


def _adapter_for(hook: Any, stages: list[str]) -> types.SimpleNamespace:
    """A pluggy plugin object whose attributes are hookimpl-marked calls of ``hook``'s
    overridden stage methods (pluggy reads the argument names through ``__wrapped__``)."""
    adapter = types.SimpleNamespace()
    for stage in stages:
        method = getattr(hook, stage)

        def call(*args: Any, _method: Any = method) -> Any:
            return _method(*args)

        functools.update_wrapper(call, method)
        setattr(adapter, stage, hookimpl(call))
    return adapter


class HookDispatcher:
    """Owns the pluggy manager of one Runner and calls its stages."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.hooks: list[Any] = []  # config hooks, in calling order
        self.names: dict[int, str] = {}  # id(hook) -> "Class (hooks.i, priority p)"
        self._culprits: dict[tuple[Any, int | None], str] = {}
        self._active: dict[str, Any] = {}
        self._adapters: set[int] = set()
        self._plugins_in_load_order()

    def _plugins_in_load_order(self) -> None:
        """Re-register the plugins so that pluggy (last registered, first called) calls
        them in load order; plugins the loader does not know (test fixtures) come after,
        in their registration order."""
        from detplug_core.plugins.state import records

        rank = {record.name: i for i, record in enumerate(records())}
        registered = self.pm.list_name_plugin()
        ordered = sorted(
            registered, key=lambda item: (rank.get(item[0], len(rank)), registered.index(item))
        )
        for _, plugin in registered:
            self.pm.unregister(plugin)
        for name, plugin in reversed(ordered):
            self.pm.register(plugin, name=name)

    def add_config_hooks(self, hooks: list[tuple[Any, int | str | None, str]]) -> None:
        """Register ``(hook, priority_or_None, config_path)`` items (in config order)."""
        ranked = []
        for index, (hook, priority, where) in enumerate(hooks):
            value = priority if priority is not None else getattr(hook, "priority", "NORMAL")
            hook.priority = get_priority(value, f"{where}.priority")
            ranked.append((hook.priority, index, hook, where))
        ranked.sort(key=lambda item: (item[0], item[1]))
        for _, _, hook, where in reversed(ranked):
            self._register_hook(hook, where)
        self.hooks = [hook for _, _, hook, _ in ranked]
        self._refresh()

    def _register_hook(self, hook: Any, where: str) -> None:
        cls = type(hook)
        label = f"config hook {cls.__name__} ({where}, priority {hook.priority}, {_plugin_of(cls)})"
        self.names[id(hook)] = label
        self._check_stage_names(hook, where)
        stages = [
            s
            for s in RUNNER_STAGES
            if callable(getattr(hook, s, None)) and getattr(cls, s, None) is not getattr(Hook, s)
        ]
        for stage in stages:
            code = getattr(getattr(cls, stage), "__code__", None)
            self._culprits[(code, id(hook))] = label
        adapter = _adapter_for(hook, stages)
        self._adapters.add(id(adapter))
        try:
            self.pm.register(adapter, name=f"{where}:{cls.__name__}")
        except pluggy.PluginValidationError as err:
            raise ConfigError(f"{where}: {cls.__name__} cannot be used as a hook: {err}") from None

    def _check_stage_names(self, hook: Any, where: str) -> None:
        """A method named almost like a stage is a typo that would never run."""
        for name in dir(type(hook)):
            if name.startswith(("before_", "after_")) and name not in RUNNER_STAGES:
                close = difflib.get_close_matches(name, RUNNER_STAGES, n=1, cutoff=0.85)
                if close:
                    raise ConfigError(
                        f"{where}: {type(hook).__name__}.{name} is not a runner stage; "
                        f"did you mean '{close[0]}'?"
                    )

    def _refresh(self) -> None:
        self._active = {}
        for stage in RUNNER_STAGES:
            caller = getattr(self.pm.hook, stage)
            impls = caller.get_hookimpls()
            if impls:
                self._active[stage] = caller
            for impl in impls:
                fn = inspect.unwrap(impl.function)
                if id(impl.plugin) not in self._adapters:
                    code = getattr(fn, "__code__", None)
                    self._culprits[(code, None)] = (
                        f"plugin '{impl.plugin_name}' function "
                        f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
                    )

    def has(self, stage: str) -> bool:
        """Whether anyone implements ``stage``."""
        return stage in self._active

    def call(self, stage: str, **kwargs: Any) -> None:
        """Call every implementation of ``stage`` in the documented order."""
        caller = self._active.get(stage)
        if caller is None:
            return
        try:
            caller(**kwargs)
        except HookError:
            raise
        except Exception as err:
            culprit = self._find_culprit(err)
            raise HookError(
                f"hook stage '{stage}' failed in {culprit}: {type(err).__name__}: {err}",
                stage,
                culprit,
            ) from err

    def _find_culprit(self, err: BaseException) -> str:
        tb = err.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if (code, None) in self._culprits:
                return self._culprits[(code, None)]
            self_obj = (
                tb.tb_frame.f_locals.get("self") if code.co_varnames[:1] == ("self",) else None
            )
            if self_obj is not None and (code, id(self_obj)) in self._culprits:
                return self._culprits[(code, id(self_obj))]
            tb = tb.tb_next
        return "an unknown hook implementation"
