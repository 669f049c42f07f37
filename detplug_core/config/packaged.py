"""Packaged configs: ``SCOPE::path`` names a config shipped inside an installed distribution.

SCOPE is a plugin's entry-point name in group ``detplug.plugins`` (the same word as its
registry scope), or ``detplug`` for the core's own configs (schedules, default runtime).
``path`` is relative to the ``configs/`` folder of the plugin's top-level package:
``fcos::models/fcos_r50_fpn.yaml`` is ``detplug_fcos/configs/models/fcos_r50_fpn.yaml``.

Finding the folder imports nothing: the package is located with ``importlib.util.find_spec``,
so resolving or listing packaged configs never imports a plugin (nor torch). A scope that is
not installed, one whose plugin is blocked, and a path the plugin does not ship are each one
clear :class:`~detplug_core.errors.ConfigError`.
"""

from __future__ import annotations

import difflib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from detplug_core.errors import ConfigError

SEPARATOR = "::"
CORE_SCOPE = "detplug"
CONFIGS_FOLDER = "configs"
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class ConfigScope:
    """Where the configs of one scope live: ``root`` is its ``configs/`` folder."""

    scope: str
    distribution: str
    version: str
    root: Path


def is_packaged(name: str) -> bool:
    """True when ``name`` is written ``SCOPE::path``."""
    return SEPARATOR in name


def split_packaged(name: str) -> tuple[str, str]:
    """``"fcos::models/x.yaml"`` -> ``("fcos", "models/x.yaml")``."""
    scope, _, path = name.partition(SEPARATOR)
    return scope.strip(), path.strip()


def resolve_packaged(name: str, where: str | None = None) -> str:
    """The file that ``SCOPE::path`` names; ``where`` (``file:line``) prefixes any error."""
    prefix = f"{where}: " if where else ""
    scope, path = split_packaged(name)
    if not scope or not path:
        raise ConfigError(f"{prefix}'{name}': write a packaged config as SCOPE::path")
    found = config_scope(scope, name, prefix)
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise ConfigError(
            f"{prefix}'{name}': the path after '::' must stay inside {found.distribution}'s "
            "configs (no absolute path, no '..')"
        )
    file = found.root / relative
    if file.is_file():
        return str(file)
    shipped = list_scope_files(found)
    close = _closest(path, shipped)
    hint = f"; closest: {', '.join(f'{scope}::{c}' for c in close)}" if close else ""
    raise ConfigError(
        f"{prefix}'{name}': {found.distribution} {found.version} ships no config '{path}'"
        f"{hint} (all of them: detplug configs '{scope}::*')"
    )


def config_scope(scope: str, name: str | None = None, prefix: str = "") -> ConfigScope:
    """The installed distribution behind ``scope``; ConfigError if missing or blocked."""
    shown = name or f"{scope}{SEPARATOR}"
    if scope == CORE_SCOPE:
        import detplug_core

        return ConfigScope(
            CORE_SCOPE,
            "detplug-core",
            _core_version(),
            Path(detplug_core.__file__).parent / CONFIGS_FOLDER,
        )
    from detplug_core.plugins.loader import current_options, discover, normalize

    records = [r for r in discover() if r.name == scope]
    if not records:
        raise ConfigError(f"{prefix}'{shown}': {_missing_scope(scope)}")
    record = records[0]
    blocked = current_options().blocked
    if {normalize(record.name), normalize(record.distribution)} & blocked:
        raise ConfigError(
            f"{prefix}'{shown}': the plugin '{scope}' ({record.distribution}) is installed but "
            "blocked (-p no:NAME or DETPLUG_DISABLE_PLUGINS), so its configs are not used"
        )
    spec = importlib.util.find_spec(record.package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ConfigError(
            f"{prefix}'{shown}': the package '{record.package}' of {record.distribution} "
            "cannot be found on sys.path"
        )
    return ConfigScope(
        scope, record.distribution, record.version, Path(locations[0]) / CONFIGS_FOLDER
    )


def list_scope_files(found: ConfigScope) -> list[str]:
    """Every config file under a scope's ``configs/`` folder, as sorted POSIX paths."""
    if not found.root.is_dir():
        return []
    return sorted(
        p.relative_to(found.root).as_posix()
        for p in found.root.rglob("*")
        if p.suffix.lower() in CONFIG_SUFFIXES and p.is_file()
    )


def _closest(path: str, shipped: list[str]) -> list[str]:
    """Names like ``path``: whole relative paths first, then same file name elsewhere."""
    close = difflib.get_close_matches(path, shipped, n=3, cutoff=0.6)
    by_stem = {Path(s).stem: s for s in shipped}  # the suffix alone would make them all close
    for stem in difflib.get_close_matches(Path(path).stem, list(by_stem), n=3, cutoff=0.6):
        if by_stem[stem] not in close:
            close.append(by_stem[stem])
    return close[:5]


def _missing_scope(scope: str) -> str:
    """Why ``scope`` is unknown, with the pip command for a first-party plugin."""
    from detplug_core.plugins.catalog import CATALOG
    from detplug_core.plugins.loader import discover

    dist = "detplug-" + scope.replace("_", "-")
    installed = sorted({r.name for r in discover()} | {CORE_SCOPE})
    if dist in CATALOG:
        from detplug_core.plugins.requirements import extras_hint

        return f"the plugin '{scope}' is not installed; run: pip install {dist}" + extras_hint(dist)
    return (
        f"no installed plugin has the entry-point name '{scope}' "
        f"(installed scopes: {', '.join(installed)}); install the plugin that provides it"
    )


def _core_version() -> str:
    import importlib_metadata

    try:
        return importlib_metadata.version("detplug-core")
    except importlib_metadata.PackageNotFoundError:
        return "(not installed)"


@dataclass(frozen=True)
class PackagedConfig:
    """One config shipped in an installed distribution (a row of ``detplug configs``)."""

    scope: str
    path: str
    distribution: str
    version: str
    file: str
    description: str

    @property
    def name(self) -> str:
        return f"{self.scope}{SEPARATOR}{self.path}"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "scope": self.scope,
            "path": self.path,
            "distribution": self.distribution,
            "version": self.version,
            "file": self.file,
            "description": self.description,
        }


def installed_scopes() -> tuple[list[ConfigScope], list[str]]:
    """The scopes whose configs can be used, then the names of the blocked ones.

    The core first, then plugins in load order; a plugin whose package cannot be found is
    left out (``detplug plugins`` reports it).
    """
    from detplug_core.plugins.loader import discover

    scopes = [config_scope(CORE_SCOPE)]
    blocked = []
    for scope in sorted({r.name for r in discover()}):
        try:
            scopes.append(config_scope(scope))
        except ConfigError as err:
            if "blocked" in str(err):
                blocked.append(scope)
    return scopes, blocked


def packaged_configs() -> list[PackagedConfig]:
    """Every config shipped by the core and the installed, unblocked plugins."""
    rows = []
    for found in installed_scopes()[0]:
        for path in list_scope_files(found):
            file = found.root / path
            rows.append(
                PackagedConfig(
                    found.scope,
                    path,
                    found.distribution,
                    found.version,
                    str(file),
                    first_comment(file),
                )
            )
    return rows


def first_comment(file: Path) -> str:
    """The file's first comment line, up to its first sentence end: its description."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            return body[: body.index(". ") + 1] if ". " in body else body
        if stripped:
            return ""  # the file starts with content: no description
    return ""
