"""``detplug --help`` / ``--version`` stay light, and user errors are one line, exit 2."""

import subprocess
import sys

import pytest

PROBE = """
import sys
from detplug_core.cli.main import main
try:
    main({args!r})
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m == 'torch' or m.startswith('detplug_') and
               not m.startswith('detplug_core'))
print('HEAVY', heavy, file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["train", "--help"]])
def test_help_and_version_import_no_torch_and_no_plugin(args):
    res = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True
    )
    assert "HEAVY []" in res.stderr, res.stderr
    assert res.stdout


def test_user_error_is_one_line_with_exit_code_2():
    res = subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", "registry", "nosuchkind"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: unknown registry 'nosuchkind'; choose one of: models, datasets, transforms, "
        "samplers, metrics, hooks, optimizers, schedulers"
    ]


def test_debug_shows_traceback():
    res = subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", "--debug", "registry", "nosuchkind"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert "Traceback" in res.stderr


def test_p_after_the_command_says_where_it_goes():
    res = subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", "train", "cfg.yaml", "-p", "no:fcos"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: -p is an option of detplug itself and goes before the command: "
        "detplug -p no:NAME train ..."
    ]


@pytest.mark.parametrize(
    ("opts", "autoload", "found"),
    [(["-p", "torchvision"], "0", True), ([], "0", False), (["-p", "no:torchvision"], "1", False)],
)
def test_p_applies_to_plugin_commands(opts, autoload, found):
    """Plugin commands are looked up after -p: a plugin autoload skipped can be named."""
    import os

    res = subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", *opts, "infer", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "DETPLUG_PLUGINS_AUTOLOAD": autoload},
    )
    if found:
        assert res.returncode == 0 and res.stdout.startswith("Usage: detplug infer"), res.stderr
    else:
        assert res.returncode == 2
        assert (
            res.stderr.strip() == "error: detplug: No such command 'infer' (see 'detplug --help')"
        )
