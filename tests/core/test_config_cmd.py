"""``detplug config`` prints the merged config; its errors are one line with exit code 2."""

import subprocess
import sys

import pytest
import yaml

DETPLUG = [sys.executable, "-m", "detplug_core.cli.main"]


def test_config_command_merges_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("optimizer: {type: SGD, lr: 0.01}\nname: base\n")
    (tmp_path / "top.yaml").write_text("_base_: base.yaml\nname: top\n")
    res = subprocess.run(
        [*DETPLUG, "config", str(tmp_path / "top.yaml"), "optimizer.lr=0.02"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert yaml.safe_load(res.stdout) == {"optimizer": {"type": "SGD", "lr": 0.02}, "name": "top"}


def test_config_command_error_names_file_and_key(tmp_path):
    (tmp_path / "top.yaml").write_text("optimizer: {type: SGD, lr: 0.01}\n")
    res = subprocess.run(
        [*DETPLUG, "config", str(tmp_path / "top.yaml"), "optimizer.lrr=0.1"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "optimizer.lrr" in lines[0] and "optimizer.lr" in lines[0]


def test_python_object_tags_are_refused(tmp_path):
    (tmp_path / "evil.yaml").write_text("x: !!python/object/apply:os.system ['echo pwned']\n")
    res = subprocess.run(
        [*DETPLUG, "config", str(tmp_path / "evil.yaml")], capture_output=True, text=True
    )
    assert res.returncode == 2
    assert "evil.yaml" in res.stderr and "pwned" not in res.stdout


def test_config_command_applies_the_plugins_adjustments(tmp_path, detplug_plugin):
    """What ``detplug config`` prints is what trains: detplug_adjust_config included."""
    from click.testing import CliRunner

    from detplug_core import hookimpl
    from detplug_core.cli.main import cli

    class Adjuster:
        @hookimpl
        def detplug_adjust_config(self, config):
            config.setdefault("optimizer", {}).setdefault("momentum", 0.9)

    detplug_plugin.register(Adjuster(), "adjuster")
    (tmp_path / "top.yaml").write_text("optimizer: {type: SGD, lr: 0.01}\n")
    res = CliRunner().invoke(cli, ["config", str(tmp_path / "top.yaml")])
    assert res.exit_code == 0, res.output
    assert yaml.safe_load(res.output) == {"optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9}}


class _Buggy:
    @staticmethod
    def detplug_adjust_config(config):
        raise KeyError("optimizer")


class _Refuses:
    @staticmethod
    def detplug_adjust_config(config):
        from detplug_core.errors import ConfigError

        raise ConfigError("optimizer.lr: this plugin needs lr <= 0.01")


@pytest.mark.parametrize(
    "plugin, code, text",
    [
        (_Buggy, 1, "plugin 'buggy': its detplug_adjust_config hook failed: KeyError"),
        (_Refuses, 2, "plugin 'refuses': optimizer.lr: this plugin needs lr <= 0.01"),
    ],
)
def test_a_raising_adjust_config_hook_is_one_line_naming_its_plugin(
    plugin, code, text, tmp_path, detplug_plugin
):
    """As in ``detplug train``: no traceback; a bug is exit 1, a refusal (DetplugError) 2."""
    from click.testing import CliRunner

    from detplug_core import hookimpl
    from detplug_core.cli.main import cli

    hookimpl(plugin.detplug_adjust_config)
    detplug_plugin.register(plugin, plugin.__name__.strip("_").lower())
    (tmp_path / "top.yaml").write_text("optimizer: {type: SGD, lr: 0.02}\n")
    res = CliRunner().invoke(cli, ["config", str(tmp_path / "top.yaml")])
    assert res.exit_code == code, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {text}"), res.output
