"""Provenance is recorded at registration (registry/provenance.py): a plugin's package is its
own whoever imports it, a plugin may not register into a root registry, and the registry
package never imports the plugin loader."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from detplug_core.errors import AmbiguousNameError, RegistryError
from detplug_core.registry import Registry
from detplug_core.registry.provenance import Provenance, claim_packages, loading

CORE = Path(__file__).parents[2] / "detplug_core"
DETPLUG = [sys.executable, "-m", "detplug_core.cli.main"]


def _register_from(module: str, reg: Registry, name: str) -> None:
    """Run ``reg.register`` from code whose module is ``module``."""
    code = compile(f"reg.register('{name}', obj=type('{name}', (), {{}}))", module, "exec")
    exec(code, {"__name__": module, "reg": reg})


def test_a_package_imported_by_another_plugin_stays_its_own():
    root = Registry("models")
    child = Registry("models", parent=root, scope="alpha")
    alpha = Provenance("alpha", "detplug-alpha", "1.0", "prov_alpha_pkg")
    beta = Provenance("beta", "detplug-beta", "2.0", "prov_beta_pkg")
    claim_packages([alpha, beta])
    with loading(beta):  # beta's import pulls in alpha's package, which registers
        _register_from("prov_alpha_pkg.models", child, "Backbone")
        _register_from("prov_unclaimed_helper.parts", child, "Helper")
    assert root.get_entry("Backbone").provenance == alpha
    assert root.get_entry("Helper").provenance == beta  # no plugin claims it: the loading one
    other = Registry("models", parent=root, scope="beta")
    with loading(beta):
        _register_from("prov_beta_pkg.models", other, "Backbone")
    with pytest.raises(AmbiguousNameError, match=r"'alpha.Backbone' \(detplug-alpha\), 'beta."):
        root.get("Backbone")
    other.remove_registered_by(beta)
    assert root.remove_registered_by(beta) == ["alpha.Helper"]
    assert root.names() == ["alpha.Backbone"]


def test_a_plugin_registering_into_a_root_registry_is_refused_by_name():
    root = Registry("models")
    gamma = Provenance("gamma", "detplug-gamma", "0.3", "prov_gamma_pkg")
    claim_packages([gamma])
    with pytest.raises(RegistryError) as err:
        _register_from("prov_gamma_pkg", root, "ResNet")
    msg = str(err.value)
    assert msg.startswith("plugin 'gamma' (detplug-gamma 0.3) registers 'ResNet' into the root")
    assert "Registry('models', parent=detplug_core.MODELS, scope='gamma')" in msg
    assert root.names() == []


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_registry_package_does_not_import_the_plugin_loader():
    for path in sorted((CORE / "registry").glob("*.py")):
        bad = {m for m in _imports(path) if m.startswith("detplug_core.plugins")}
        assert not bad, f"{path.name} imports {bad}"
    assert "detplug_core.registry.registry" not in _imports(CORE / "registry" / "build.py")


def _detplug(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*DETPLUG, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("blocked", [[], ["-p", "no:coco"]], ids=["all", "no-coco"])
def test_registry_listing_names_the_distribution_that_registered(blocked):
    res = _detplug(*blocked, "registry", "models", "ResNet*", "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["qualified_name"]: r["plugin"] for r in json.loads(res.stdout)}
    assert rows["torchvision.ResNet"] == "detplug-torchvision"


def test_plugins_lists_each_component_under_its_own_plugin():
    res = _detplug("plugins", "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    coco = [n for names in rows["coco"]["components"].values() for n in names]
    assert coco and all(n.startswith("coco.") for n in coco), coco
    assert "torchvision.ResNet" in rows["torchvision"]["components"]["models"]
