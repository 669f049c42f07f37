"""Render the templates of one plugin kind into a new distribution folder."""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from detplug_core import __version__
from detplug_core.errors import DetplugError
from detplug_core.scaffold.names import PluginNames, plugin_names

SUFFIX = ".tmpl"
MODULE_DIR = "_module_"


@dataclass(frozen=True)
class KindSpec:
    """What one ``--kind`` generates: the registry it fills and its example component."""

    registry: str  # root registry variable, e.g. HOOKS
    component_suffix: str  # the example class is <Camel><suffix>
    dependencies: tuple[str, ...]
    summary: str


KINDS: dict[str, KindSpec] = {
    "hook": KindSpec("HOOKS", "Hook", (), "a training hook"),
    "model": KindSpec("MODELS", "Backbone", ("torch",), "a backbone model component"),
    "dataset": KindSpec(
        "DATASETS", "Dataset", ("torch", "torchvision", "pillow"), "a dataset format"
    ),
}


def core_requirement(version: str = __version__) -> str:
    """``detplug-core>=0.1,<0.2`` for core 0.1.x: the range a new plugin is written for."""
    major, minor = (int(p) for p in version.split(".")[:2])
    upper = f"{major + 1}.0" if major >= 1 else f"0.{minor + 1}"
    return f"detplug-core>={major}.{minor},<{upper}"


def _pinned(name: str) -> str:
    """The pin detplug-core itself uses for ``name`` (torch==...), else the bare name."""
    from importlib import metadata

    try:
        requires = metadata.requires("detplug-core") or []
    except metadata.PackageNotFoundError:
        requires = []
    for req in requires:
        if req.split(";")[0].replace(" ", "").lower().startswith(f"{name}=="):
            return req.split(";")[0].strip()
    return name


def template_values(names: PluginNames, kind: str) -> dict[str, str]:
    spec = KINDS[kind]
    deps = [core_requirement(), *(_pinned(d) for d in spec.dependencies)]
    return {
        "distribution": names.distribution,
        "module": names.module,
        "scope": names.scope,
        "camel": names.camel,
        "env_prefix": names.env_prefix,
        "kind": kind,
        "registry": spec.registry,
        "registry_name": spec.registry.lower(),
        "component": names.camel + spec.component_suffix,
        "summary": spec.summary,
        "dependencies": ", ".join(f'"{d}"' for d in deps),
        "core_requirement": core_requirement(),
        "core_version": __version__,
    }


def _walk(root: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(relative path parts, text) of every template file below ``root``."""
    found = []
    for item in sorted(root.iterdir(), key=lambda t: t.name):
        if item.name == "__pycache__":
            continue
        if item.is_dir():
            found += _walk(item, (*prefix, item.name))
        elif item.name.endswith(SUFFIX):
            found.append(((*prefix, item.name[: -len(SUFFIX)]), item.read_text("utf-8")))
    return found


def render_files(names: PluginNames, kind: str) -> dict[str, str]:
    """Relative output path -> file content, for ``kind``; nothing is written."""
    if kind not in KINDS:
        raise DetplugError(f"unknown plugin kind {kind!r}; choose one of: {', '.join(KINDS)}")
    values = template_values(names, kind)
    templates = resources.files("detplug_core.scaffold") / "templates"
    files: dict[str, str] = {}
    for folder in ("common", kind):  # the kind's files override common ones of that path
        for parts, text in _walk(templates / folder):
            path = "/".join(names.module if p == MODULE_DIR else p for p in parts)
            try:
                files[path] = string.Template(text).substitute(values)
            except (KeyError, ValueError) as err:  # a broken template is a bug in detplug
                raise RuntimeError(f"scaffold template {folder}/{path}: {err!r}") from err
    return files


def generate_plugin(name: str, kind: str = "hook", directory: str | Path = ".") -> Path:
    """Write the distribution for plugin ``name`` into ``directory/<distribution>``.

    Refuses to write into a folder that exists and is not empty. Returns the new folder.
    """
    names = plugin_names(name)
    files = render_files(names, kind)
    target = Path(directory) / names.distribution
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DetplugError(f"{target} already exists and is not empty; choose another --dir")
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target
