"""Plugins that exit, interrupt or raise in their hooks, and click usage errors: one line
naming the culprit, never a traceback (issue 14). Each plugin is a real distribution
(``.dist-info`` with an entry point) on ``PYTHONPATH``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DETPLUG = [sys.executable, "-m", "detplug_core.cli.main"]


def _plugin(root: Path, name: str, body: str) -> Path:
    site = root / name
    info = site / f"evil_{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (site / f"evil_{name}.py").write_text(textwrap.dedent(body))
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: evil-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[detplug.plugins]\n{name} = evil_{name}\n")
    return site


def _run(
    site: Path | None, *args: str, cwd: Path, autoload: str = "0"
) -> subprocess.CompletedProcess:
    env = {**os.environ, "DETPLUG_PLUGINS_AUTOLOAD": autoload, "OMP_NUM_THREADS": "1"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    plugin = ["-p", site.name] if site is not None else []
    return subprocess.run(
        [*DETPLUG, *plugin, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_plugin_calling_sys_exit_on_import_is_a_failed_plugin(tmp_path):
    site = _plugin(tmp_path, "exits", "import sys\nsys.exit(3)\n")
    res = _run(site, "plugins", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "[failed]" in res.stdout and "called sys.exit(3) while being imported" in res.stdout


def test_keyboard_interrupt_while_loading_a_plugin_exits_130_naming_it(tmp_path):
    site = _plugin(tmp_path, "interrupts", "raise KeyboardInterrupt\n")
    res = _run(site, "plugins", cwd=tmp_path)
    assert res.returncode == 130
    assert _one_line(res.stderr) == (
        "error: interrupted while loading plugin 'interrupts' (evil-interrupts 0.1)"
    )


def test_a_raising_cli_commands_hook_does_not_break_the_cli(tmp_path):
    site = _plugin(
        tmp_path,
        "clicmd",
        """
        from detplug_core import hookimpl
        @hookimpl
        def detplug_cli_commands():
            raise RuntimeError("cli boom")
        """,
    )
    res = _run(site, "plugins", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "its detplug_cli_commands hook failed: RuntimeError: cli boom" in res.stdout
    # plugin commands are looked up before -p applies: autoload finds this plugin
    res = _run(site, "nosuch", cwd=tmp_path, autoload="1")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "plugin 'clicmd' (evil-clicmd 0.1): its detplug_cli_commands hook failed" in res.stderr


def test_a_raising_adjust_config_hook_names_its_plugin(tmp_path):
    site = _plugin(
        tmp_path,
        "adjust",
        """
        from detplug_core import hookimpl
        @hookimpl
        def detplug_adjust_config(config):
            raise RuntimeError("adjust boom")
        """,
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {type: Nothing}\n")
    res = _run(site, "train", str(cfg), cwd=tmp_path)
    assert res.returncode == 1
    assert _one_line(res.stderr).startswith(
        "error: plugin 'adjust' (evil-adjust 0.1): its detplug_adjust_config hook failed: "
        "RuntimeError: adjust boom"
    )


def test_a_plugin_registering_into_a_root_registry_fails_named(tmp_path):
    """A plugin may only register into its scoped children (docs/registry.md): one that
    registers into a root, where it would shadow every plugin's name, fails to load, and a
    config that uses the name gets one line naming the plugin and the fix."""
    site = _plugin(
        tmp_path,
        "shadow",
        """
        import detplug_core
        @detplug_core.MODELS.register("Shadowed")
        class Shadowed:
            def __init__(self, depth=1):
                self.depth = depth + "x"
        """,
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  type: Shadowed\n  depth: 2\n")
    res = _run(site, "train", str(cfg), cwd=tmp_path)
    line = _one_line(res.stderr)
    assert "model.type: 'Shadowed' is not registered in the models registry." in line
    assert (
        "plugins that failed to load: shadow from evil-shadow: RegistryError: plugin 'shadow' "
        "(evil-shadow 0.1) registers 'Shadowed' into the root models registry"
    ) in line
    assert "scope='shadow')" in line and res.returncode == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("train",),
            "error: detplug train: Missing argument 'CONFIG' (see 'detplug train --help')",
        ),
        (("train", "x.yaml", "--bogus"), "error: detplug train: No such option '--bogus'"),
    ],
)
def test_click_usage_errors_are_one_line(tmp_path, args, expected):
    res = _run(None, *args, cwd=tmp_path)
    assert res.returncode == 2
    assert _one_line(res.stderr).startswith(expected)
