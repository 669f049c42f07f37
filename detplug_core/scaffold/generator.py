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
    # first-party plugins its packaged config (configs/) trains with: the ``recipes`` extra
    recipe_plugins: tuple[str, ...] = ()


KINDS: dict[str, KindSpec] = {
    "hook": KindSpec("HOOKS", "Hook", (), "a training hook", ("detplug-fcos[shapes]",)),
    "model": KindSpec(
        "MODELS", "Backbone", ("torch",), "a backbone model component", ("detplug-fcos[shapes]",)
    ),
    "dataset": KindSpec(
        "DATASETS", "Dataset", ("torch", "torchvision", "pillow"), "a dataset format"
    ),
}


def core_requirement(version: str = __version__) -> str:
    """``detplug-core>=0.1,<0.2`` for core 0.1.x: the range a new plugin is written for."""
    major, minor = (int(p) for p in version.split(".")[:2])
    upper = f"{major + 1}.0" if major >= 1 else f"0.{minor + 1}"
    return f"detplug-core>={major}.{minor},<{upper}"


def _declared(name: str) -> str:
    """The range detplug itself declares for ``name`` (``torch>=2.14``), else the bare name.

    Looked up in the metadata of detplug-core, then detplug-torchvision: a new plugin asks for
    what detplug was tested with, never one exact version.
    """
    from importlib import metadata

    for dist in ("detplug-core", "detplug-torchvision"):
        try:
            requires = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:
            continue
        for req in requires:
            spec = req.split(";")[0].strip()
            bare = spec.replace(" ", "").lower()
            if bare.startswith(name) and bare[len(name) : len(name) + 1] in (
                "<",
                ">",
                "=",
                "!",
                "~",
            ):
                return spec
    return name


def _series(version: str = __version__) -> str:
    """``>=0.1,<0.2``: the detplug release series a new plugin is written for."""
    return core_requirement(version).removeprefix("detplug-core")


def template_values(names: PluginNames, kind: str) -> dict[str, str]:
    spec = KINDS[kind]
    deps = [core_requirement(), *(_declared(d) for d in spec.dependencies)]
    recipes = [f"{plugin}{_series()}" for plugin in spec.recipe_plugins]
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
        "recipe_dependencies": ", ".join(f'"{d}"' for d in recipes),
        "test_dependencies": ", ".join(f'"{d}"' for d in ["pytest>=8", *recipes]),
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
