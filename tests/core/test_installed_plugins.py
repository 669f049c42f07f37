"""Plugins pip-installed for real (into a private --target folder on PYTHONPATH), then driven
through the ``detplug`` CLI and the registry in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGES = Path(__file__).parents[1] / "plugin_packages"
DETPLUG = [sys.executable, "-m", "detplug_core.cli.main"]


def pip_install_target(target: Path, *names: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            *(str(PACKAGES / n) for n in names),
        ],
        check=True,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    pip_install_target(target, "detplug-demo", "detplug-demo-twin", "detplug-broken")
    return target


def run(site: Path, *args: str, env: dict | None = None, python: str | None = None):
    full_env = {**os.environ, "PYTHONPATH": str(site), **(env or {})}
    full_env.pop("DETPLUG_STRICT_PLUGINS", None) if "DETPLUG_STRICT_PLUGINS" not in (
        env or {}
    ) else None
    cmd = [sys.executable, "-c", python] if python else [*DETPLUG, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=120)


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in rows}


def test_plugins_json_lists_components_hooks_commands_and_failures(site):
    res = run(site, "plugins", "--json")
    assert res.returncode == 0, res.stderr
    rows = by_name(json.loads(res.stdout))
    demo = rows["demo"]
    assert demo["distribution"] == "detplug-demo" and demo["version"] == "1.2.3"
    assert demo["status"] == "loaded"
    assert demo["components"]["models"] == ["demo.DemoBackbone", "demo.DemoDetector"]
    assert "before_run" in demo["hooks"] and "detplug_cli_commands" in demo["hooks"]
    assert demo["commands"] == ["demo-hello"]
    broken = rows["broken"]
    assert broken["status"] == "failed"
    assert "some_missing_dependency" in broken["error"]
    assert broken["components"] == {}  # half-registered components were removed
    assert rows["demo_twin"]["status"] == "loaded"


def test_plugins_text_and_registry_listing(site):
    res = run(site, "plugins")
    assert res.returncode == 0
    assert "demo  detplug-demo 1.2.3  [loaded]" in res.stdout
    assert "broken  detplug-broken 0.0.9  [failed]" in res.stdout
    res = run(site, "registry", "models", "Demo*")
    assert res.returncode == 0, res.stderr
    assert "demo.DemoBackbone" in res.stdout and "detplug-demo" in res.stdout
    assert "demo_twin.DemoBackbone" in res.stdout
    rows = json.loads(run(site, "registry", "models", "--json").stdout)
    assert {
        "registry": "models",
        "name": "DemoDetector",
        "scope": "demo",
        "qualified_name": "demo.DemoDetector",
        "plugin": "detplug-demo",
    } in rows


BUILD = textwrap.dedent(
    """
    import sys, yaml
    from detplug_core import MODELS
    from detplug_core.errors import DetplugError
    cfg = yaml.safe_load(sys.argv[1] if len(sys.argv) > 1 else open('cfg.yaml'))
    try:
        m = MODELS.build(cfg['model'], path='model')
        print('built', type(m).__module__, getattr(m, 'backbone', m).__class__.__module__)
    except DetplugError as e:
        print('error', e)
    """
)


def build(site: Path, tmp_path: Path, yaml_text: str) -> str:
    (tmp_path / "cfg.yaml").write_text(yaml_text)
    res = subprocess.run(
        [sys.executable, "-c", BUILD],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_config_builds_by_bare_and_scoped_name(site, tmp_path):
    out = build(site, tmp_path, "model: {type: DemoDetector, backbone: {type: demo.DemoBackbone}}")
    assert out == "built detplug_demo detplug_demo"
    out = build(
        site, tmp_path, "model: {type: demo.DemoDetector, backbone: {type: demo_twin.DemoBackbone}}"
    )
    assert out == "built detplug_demo detplug_demo_twin"


def test_same_name_from_two_plugins_is_ambiguous(site, tmp_path):
    out = build(site, tmp_path, "model: {type: DemoBackbone}")
    assert out.startswith("error model.type: 'DemoBackbone' is ambiguous")
    assert "'demo.DemoBackbone' (detplug-demo)" in out
    assert "'demo_twin.DemoBackbone' (detplug-demo-twin)" in out
    # inside the demo plugin's own component, its own scope wins: no ambiguity there
    out = build(site, tmp_path, "model: {type: DemoDetector, backbone: {type: DemoBackbone}}")
    assert out == "built detplug_demo detplug_demo"


def test_component_of_failed_plugin_is_fatal_with_its_error(site, tmp_path):
    out = build(site, tmp_path, "model: {type: BrokenNet}")
    assert "'BrokenNet' is provided by plugin 'broken' (detplug-broken 0.0.9)" in out
    assert "some_missing_dependency" in out


def test_bad_argument_names_key_path(site, tmp_path):
    out = build(
        site, tmp_path, "model: {type: DemoDetector, backbone: {type: demo.DemoBackbone, dpeth: 3}}"
    )
    assert out.startswith("error model.backbone.dpeth: DemoBackbone has no parameter 'dpeth'")
    assert "did you mean 'depth'" in out


def test_strict_mode_makes_a_broken_plugin_fatal(site):
    res = run(site, "registry", env={"DETPLUG_STRICT_PLUGINS": "1"})
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: plugin 'broken' (detplug-broken 0.0.9) failed to load: ImportError: No module "
        "named 'some_missing_dependency' [strict mode: DETPLUG_STRICT_PLUGINS=1]"
    ]


@pytest.mark.parametrize(
    "args, env",
    [
        (["-p", "no:demo"], {}),
        (["-p", "no:detplug-demo"], {}),
        ([], {"DETPLUG_DISABLE_PLUGINS": "other,demo"}),
        ([], {"DETPLUG_PLUGINS_AUTOLOAD": "0"}),
    ],
)
def test_blocked_plugin_is_never_imported(site, tmp_path, args, env):
    marker = tmp_path / "imported.txt"
    res = run(site, *args, "plugins", "--json", env={**env, "DETPLUG_DEMO_MARKER": str(marker)})
    assert res.returncode == 0, res.stderr
    status = by_name(json.loads(res.stdout))["demo"]["status"]
    assert status == ("not-autoloaded" if env.get("DETPLUG_PLUGINS_AUTOLOAD") else "blocked")
    assert not marker.exists()
    # and the control: without blocking, the same module is imported
    res = run(site, "plugins", "--json", env={"DETPLUG_DEMO_MARKER": str(marker)})
    assert marker.read_text() == "imported"


def test_autoload_off_loads_only_named_plugins(site):
    res = run(site, "-p", "demo", "plugins", "--json", env={"DETPLUG_PLUGINS_AUTOLOAD": "0"})
    rows = by_name(json.loads(res.stdout))
    assert rows["demo"]["status"] == "loaded"
    assert rows["demo_twin"]["status"] == "not-autoloaded"


def test_blocked_type_hints_how_to_enable(site, tmp_path):
    res = run(site, "-p", "no:demo", "plugins")
    assert "[blocked]" in res.stdout


def test_lookup_from_a_blocked_plugin_says_it_is_blocked(site, tmp_path):
    env = {"DETPLUG_DISABLE_PLUGINS": "demo"}
    (tmp_path / "cfg.yaml").write_text("model: {type: demo.DemoDetector}")

    def lookup(yaml_text: str) -> str:
        (tmp_path / "cfg.yaml").write_text(yaml_text)
        res = subprocess.run(
            [sys.executable, "-c", BUILD],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(site), **env},
            timeout=120,
        )
        return res.stdout.strip()

    blocked = (
        "plugin 'demo' (detplug-demo 1.2.3) is installed but blocked (-p no:demo or "
        "DETPLUG_DISABLE_PLUGINS); remove the block to use it"
    )
    # scope.Name: exact
    assert lookup("model: {type: demo.DemoDetector}") == (
        f"error model.type: 'DemoDetector' is not registered: unknown scope 'demo': {blocked}"
    )
    # a bare name no catalogue knows: the blocked plugins are possible providers
    out = lookup("model: {type: DemoDetector}")
    assert out.startswith("error model.type: 'DemoDetector' is not registered")
    assert "Blocked plugins, one of which may provide it: 'demo' (detplug-demo)" in out


def test_plugins_warns_about_names_two_plugins_register(site):
    res = run(site, "plugins")
    assert res.returncode == 0, res.stderr
    assert (
        "warning: models: 'DemoBackbone' is registered by several plugins "
        "(demo.DemoBackbone (detplug-demo), demo_twin.DemoBackbone (detplug-demo-twin)); a bare "
        "'DemoBackbone' is ambiguous, write the scope (e.g. demo.DemoBackbone)"
    ) in res.stderr


def test_plugin_adds_a_cli_command(site):
    res = run(site, "demo-hello", "bob")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "hello bob from detplug-demo"
    res = run(site, "no-such-command")
    assert res.returncode == 2 and "No such command 'no-such-command'" in res.stderr


def test_duplicate_distribution_on_path_is_loaded_once(site, tmp_path):
    second = tmp_path / "site2"
    pip_install_target(second, "detplug-demo")
    res = run(site, "plugins", "--json", env={"PYTHONPATH": f"{site}{os.pathsep}{second}"})
    names = [r["name"] for r in json.loads(res.stdout)]
    assert names.count("demo") == 1


REQUIRED = textwrap.dedent(
    """
    import sys
    from detplug_core.plugins.requirements import check_required_plugins
    from detplug_core.errors import DetplugError
    try:
        check_required_plugins({'required_plugins': sys.argv[1:]})
        print('ok')
    except DetplugError as e:
        print(e)
    """
)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("detplug-demo>=1.0", "ok"),
        (
            "detplug-demo>=2",
            "this config requires detplug-demo>=2, but detplug-demo 1.2.3 is "
            "installed; run: pip install 'detplug-demo>=2'",
        ),
        (
            "detplug-missing",
            "this config requires detplug-missing, which is not installed; "
            "run: pip install 'detplug-missing'",
        ),
        (
            "detplug-broken",
            "this config requires detplug-broken, installed but not loaded: "
            "ImportError: No module named 'some_missing_dependency'",
        ),
    ],
)
def test_required_plugins(site, spec, expected):
    res = subprocess.run(
        [sys.executable, "-c", REQUIRED, spec],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        timeout=120,
    )
    assert res.stdout.strip() == expected, res.stderr
