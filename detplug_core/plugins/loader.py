"""detplug's own entry-point loader (group ``detplug.plugins``).

Why not pluggy's ``load_setuptools_entrypoints``: it stops at the first broken plugin, drops
a second plugin of the same name silently and follows file-system order. This loader:

1. lists the entry points of group ``detplug.plugins`` once per distribution (a distribution
   seen twice on ``sys.path`` is kept once, the first one Python would import);
2. sorts them by entry-point name, then distribution name: that is the load order;
3. checks the block list (``-p no:NAME``, ``DETPLUG_DISABLE_PLUGINS``) by entry-point *or*
   distribution name before importing anything;
4. imports each plugin module, catching its error: the record keeps name, distribution,
   version and the error, and the other plugins still load;
5. in strict mode (``DETPLUG_STRICT_PLUGINS=1``) the first failure raises instead.

With ``DETPLUG_PLUGINS_AUTOLOAD=0`` no entry point is imported unless named with ``-p NAME``.
"""

from __future__ import annotations

import importlib
import re
import traceback
from dataclasses import dataclass, field

from detplug_core.env import env_flag, env_names
from detplug_core.errors import PluginError, PluginWarning
from detplug_core.plugins import state
from detplug_core.plugins.state import PluginRecord
from detplug_core.registry import provenance
from detplug_core.registry.roots import ROOT_REGISTRIES

GROUP = "detplug.plugins"
BUILTIN_MODULES = ("detplug_core.builtins",)


def normalize(name: str) -> str:
    """PEP 503 normalisation, so ``detplug_fcos`` blocks ``detplug-fcos``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class LoaderOptions:
    blocked: set[str] = field(default_factory=set)
    enabled: set[str] = field(default_factory=set)
    strict: bool | None = None
    autoload: bool | None = None

    def resolved(self) -> LoaderOptions:
        return LoaderOptions(
            blocked={normalize(b) for b in self.blocked | env_names("DETPLUG_DISABLE_PLUGINS")},
            enabled={normalize(e) for e in self.enabled},
            strict=env_flag("DETPLUG_STRICT_PLUGINS", False)
            if self.strict is None
            else self.strict,
            autoload=env_flag("DETPLUG_PLUGINS_AUTOLOAD", True)
            if self.autoload is None
            else self.autoload,
        )


_options = LoaderOptions()
_loaded = False


def configure(
    *,
    blocked: set[str] | None = None,
    enabled: set[str] | None = None,
    strict: bool | None = None,
    autoload: bool | None = None,
) -> None:
    """Set loader options (the CLI's ``-p``); must run before the first lookup to matter."""
    if blocked is not None:
        _options.blocked |= set(blocked)
    if enabled is not None:
        _options.enabled |= set(enabled)
    if strict is not None:
        _options.strict = strict
    if autoload is not None:
        _options.autoload = autoload


def parse_p_options(values: list[str] | tuple[str, ...]) -> tuple[set[str], set[str]]:
    """Split ``-p`` values into (blocked, enabled): ``no:NAME`` blocks, ``NAME`` enables."""
    blocked, enabled = set(), set()
    for value in values:
        if value.startswith("no:"):
            blocked.add(value[3:])
        else:
            enabled.add(value)
    return blocked, enabled


def discover() -> list[PluginRecord]:
    """Entry points of group ``detplug.plugins``: one per distribution, in load order."""
    import importlib_metadata

    seen: set[tuple[str, str]] = set()
    found: list[PluginRecord] = []
    for dist in importlib_metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points:
            if ep.group != GROUP:
                continue
            key = (normalize(dist_name), ep.name)
            if key in seen:  # the same distribution twice on sys.path
                continue
            seen.add(key)
            found.append(PluginRecord(ep.name, dist_name, dist.version, ep.value))
    return sorted(found, key=lambda r: (r.name, normalize(r.distribution)))


def _import(record: PluginRecord) -> None:
    module_name, _, attr = record.module_name.partition(":")
    with provenance.loading(record.provenance):
        module = importlib.import_module(module_name)
    record.module = getattr(module, attr) if attr else module


def _unregister(record: PluginRecord) -> list[str]:
    """Remove what a failed plugin registered before it raised: a half-loaded plugin must
    never be used. Returns the removed qualified names for error messages."""
    return [
        name
        for root in ROOT_REGISTRIES.values()
        for name in root.remove_registered_by(record.provenance)
    ]


def ensure_loaded() -> list[PluginRecord]:
    """Load built-ins and plugins once per process; returns the plugin records."""
    global _loaded
    if _loaded:
        return state.records()
    _loaded = True
    from detplug_core.plugins.hookcheck import HookimplError, check_hookimpls  # pluggy: lazily

    for name in BUILTIN_MODULES:
        importlib.import_module(name)
    opts = _options.resolved()
    records = discover()
    state.set_records(records)
    # before any import: what a plugin's package registers is that plugin's, whoever imports it
    provenance.claim_packages(r.provenance for r in records)
    _check_named_plugins(opts, records)
    for record in records:
        names = {normalize(record.name), normalize(record.distribution)}
        if names & opts.blocked:
            record.status = "blocked"
            continue
        if not opts.autoload and not names & opts.enabled:
            record.status = "not-autoloaded"
            continue
        try:
            _import(record)
            record.warnings = check_hookimpls(
                record.module, record.provenance.describe(), strict=bool(opts.strict)
            )
        except KeyboardInterrupt:  # Ctrl-C (or a plugin raising it): stop, naming the plugin
            _unregister(record)
            err = PluginError(
                f"interrupted while loading plugin '{record.name}' ({record.distribution} "
                f"{record.version})"
            )
            err.exit_code = 130
            raise err from None
        except (Exception, SystemExit) as err:  # a broken plugin must not take others down
            record.status = "failed"
            if isinstance(err, HookimplError):
                record.error = str(err)
            elif isinstance(err, SystemExit):
                record.error = f"SystemExit: it called sys.exit({err.code!r}) while being imported"
            else:
                record.error = f"{type(err).__name__}: {err}"
            record.traceback = traceback.format_exc()
            record.failed_components = _unregister(record)
            if opts.strict:
                what = (
                    record.error
                    if isinstance(err, HookimplError)  # already names the plugin
                    else f"{record.provenance.describe()} failed to load: {record.error}"
                )
                strict = " [strict mode: DETPLUG_STRICT_PLUGINS=1]"
                raise PluginError(what if what.endswith(strict) else what + strict) from err
            continue
        record.status = "loaded"
    return records


def _check_named_plugins(opts: LoaderOptions, records: list[PluginRecord]) -> None:
    """``-p no:TYPO`` or ``-p TYPO`` (or DETPLUG_DISABLE_PLUGINS) naming no installed plugin:
    a warning with the closest name and the installed ones (an error in strict mode)."""
    import difflib
    import warnings

    known = {normalize(n) for r in records for n in (r.name, r.distribution)}
    for name in sorted((opts.blocked | opts.enabled) - known):
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        installed = ", ".join(sorted(r.name for r in records)) or "(none)"
        message = (
            f"-p / DETPLUG_DISABLE_PLUGINS names '{name}', which is no installed plugin; "
            f"{hint}installed plugins: {installed}"
        )
        if opts.strict:
            raise PluginError(f"{message} [strict mode: DETPLUG_STRICT_PLUGINS=1]")
        warnings.warn(message, PluginWarning, stacklevel=3)


def reset_for_tests() -> None:
    """Forget options and load state (tests only: imported modules stay imported)."""
    global _loaded
    _loaded = False
    _options.blocked.clear()
    _options.enabled.clear()
    _options.strict = None
    _options.autoload = None
    state.set_records([])


def current_options() -> LoaderOptions:
    """The options in force (``-p`` values and the environment), without loading anything."""
    return _options.resolved()
