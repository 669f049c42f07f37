"""Each plugin's tests run with what its own distribution declares, from its wheel.

A plugin's tests may use its own distribution, what it depends on and what its ``test``
extra declares (and what those depend on), nothing else: every other plugin they import
(``import detplug_x``, ``pytest.importorskip("detplug_x")``) or whose configs they name
(``x::path``) must be declared there. They read configs through ``SCOPE::path``, never the
repository's ``configs/`` folder, which no wheel ships. And no plugin's code imports a
private module (``_name``) of another distribution.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGINS = sorted(p for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").is_file())

IMPORT = re.compile(r"^\s*(?:from|import)\s+(detplug_\w+)", re.MULTILINE)
SKIP = re.compile(r"importorskip\(\s*[\"'](detplug_\w+)")
SCOPE = re.compile(r"[\"'\s\[:=,](\w+)::")
# the repository's root folder (parents[3] of a plugin test, ROOT, REPO) joined with "configs"
ROOT_CONFIGS = re.compile(r"(?:parents\[\d\]|\b(?:ROOT|REPO)\b).*[\"']configs[/\"']")
PRIVATE = re.compile(r"^\s*(?:from|import)\s+(detplug_\w+)((?:\.\w+)*\._\w+)", re.MULTILINE)


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower()


def read_distributions() -> dict[str, dict]:
    """name -> {module, scope, dependencies, test} for the core and every plugin."""
    dists = {}
    for folder in [REPO, *PLUGINS]:
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        plugins = project.get("entry-points", {}).get("detplug.plugins", {})
        scope, module = next(iter(plugins.items()), ("detplug", "detplug_core"))
        dists[project["name"]] = {
            "folder": folder,
            "module": module,
            "scope": scope,
            "dependencies": {requirement_name(r) for r in project.get("dependencies", [])},
            "test": {
                requirement_name(r)
                for r in project.get("optional-dependencies", {}).get("test", [])
            },
        }
    return dists


DISTS = read_distributions()
BY_MODULE = {d["module"]: name for name, d in DISTS.items()}
BY_SCOPE = {d["scope"]: name for name, d in DISTS.items()}


def installed_with(name: str) -> set[str]:
    """The detplug distributions a ``pip install 'NAME[test]'`` brings."""
    todo = [name, *DISTS[name]["test"]]
    seen: set[str] = set()
    while todo:
        dist = todo.pop()
        if dist in seen or dist not in DISTS:
            continue
        seen.add(dist)
        todo.extend(DISTS[dist]["dependencies"])
    return seen


def needed_by_tests(folder: Path) -> dict[str, set[str]]:
    """distribution -> the test files of ``folder`` that use it."""
    needed: dict[str, set[str]] = {}
    for path in sorted((folder / "tests").glob("*.py")):
        text = path.read_text()
        modules = set(IMPORT.findall(text)) | set(SKIP.findall(text))
        names = {BY_MODULE[m] for m in modules if m in BY_MODULE}
        names |= {BY_SCOPE[s] for s in SCOPE.findall(text) if s in BY_SCOPE}
        for dist in names:
            needed.setdefault(dist, set()).add(path.name)
    return needed


@pytest.mark.parametrize("name", sorted(n for n in DISTS if n != "detplug-core"))
def test_tests_use_only_declared_distributions(name: str) -> None:
    have = installed_with(name)
    missing = {
        dist: sorted(files)
        for dist, files in needed_by_tests(DISTS[name]["folder"]).items()
        if dist not in have
    }
    assert not missing, f"{name}'s tests use distributions its test extra lacks: {missing}"


@pytest.mark.parametrize("folder", PLUGINS, ids=[p.name for p in PLUGINS])
def test_tests_read_packaged_configs(folder: Path) -> None:
    readers = [
        path.name
        for path in sorted((folder / "tests").glob("*.py"))
        if ROOT_CONFIGS.search(path.read_text())
    ]
    assert not readers, f"read the repository's configs/ instead of SCOPE::path: {readers}"


@pytest.mark.parametrize("folder", PLUGINS, ids=[p.name for p in PLUGINS])
def test_no_private_module_of_another_distribution(folder: Path) -> None:
    own = DISTS[tomllib.loads((folder / "pyproject.toml").read_text())["project"]["name"]]
    found = [
        f"{path.relative_to(folder)}: {module}{rest}"
        for path in sorted(folder.glob("detplug_*/**/*.py"))
        for module, rest in PRIVATE.findall(path.read_text())
        if module != own["module"]
    ]
    assert not found, f"imports of another distribution's private modules: {found}"


def test_the_checks_see_what_they_look_for() -> None:
    """The patterns find each kind of use (so that the checks above can fail)."""
    text = (
        'import detplug_fcos\npytest.importorskip("detplug_voc")\nCFG = "rtmdet::x.yaml"\n'
        'R = ROOT / "configs" / "fcos"\nfrom detplug_torchvision.backbones._common import x\n'
    )
    assert set(IMPORT.findall(text)) == {"detplug_fcos", "detplug_torchvision"}
    assert SKIP.findall(text) == ["detplug_voc"] and SCOPE.findall(text) == ["rtmdet"]
    assert ROOT_CONFIGS.search(text)
    assert ROOT_CONFIGS.search('CONFIG = Path(__file__).parents[3] / "configs" / "x.yaml"')
    assert not ROOT_CONFIGS.search('files("detplug_retinanet") / "configs" / "models"')
    assert PRIVATE.findall(text) == [("detplug_torchvision", ".backbones._common")]
