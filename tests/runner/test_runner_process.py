"""The CLI owns its process, the library does not: a Runner in a user's own program leaves
malloc, the garbage collector and the environment as they were; ``detplug train`` (and a
caller who passes ``tune_process=True``) tunes them for the loop."""

from __future__ import annotations

import gc
import json
import platform
import subprocess
import sys
import textwrap

import yaml

from detplug_core import hookimpl
from detplug_core.runner import malloc

from .conftest import TOY_SRC, make_toy_config

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# A user's program: trains a toy run in a fresh process and reports what it saw.
USER_PROGRAM = textwrap.dedent(
    """
    import gc, json, os, sys
    sys.path.insert(0, sys.argv[1])
    import detplug_runner_toy  # noqa: F401  (registers the toy components)
    from detplug_core import Hook
    from detplug_core.runner import Runner, malloc

    seen = []

    class Probe(Hook):
        def before_train_iter(self, runner):
            seen.append(gc.get_freeze_count())

    import torch

    # the program uses torch already: torch's own first-use settings (torch.optim imports
    # torch._dynamo, which sets TORCHINDUCTOR_CACHE_DIR) are not the runner's
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    cfg = json.loads(sys.argv[2])
    cfg["hooks"] = [{"type": Probe}]
    env = dict(os.environ)
    with Runner(cfg) as runner:
        runner.train()
    changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k))
    print(json.dumps({"frozen": seen, "malloc": malloc._applied, "env": changed}))
    """
)


def _config(tmp_path):
    cfg = make_toy_config(
        tmp_path, train={"by_epoch": False, "max_iters": 2, "log_interval": 1}, val_dataloader=None
    )
    cfg["deterministic"] = False  # deterministic: true is the user asking for process flags
    return cfg


def test_a_runner_in_a_users_program_changes_nothing_process_wide(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", USER_PROGRAM, str(TOY_SRC), json.dumps(_config(tmp_path))],
        capture_output=True,
        text=True,
        check=True,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "DETPLUG_PLUGINS_AUTOLOAD": "0"},
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"frozen": [0, 0], "malloc": None, "env": []}


def test_detplug_train_tunes_its_own_process(tmp_path, toy, detplug_plugin, monkeypatch):
    from click.testing import CliRunner

    from detplug_core.cli.main import cli

    seen = []

    class Probe:
        @hookimpl
        def before_train_iter(self, runner):
            seen.append((gc.get_freeze_count(), malloc._applied))

    monkeypatch.delenv("DETPLUG_MALLOC_TUNING", raising=False)
    for name in malloc.USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    detplug_plugin.register(Probe(), "process_probe")
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(_config(tmp_path / "work")))
    result = CliRunner().invoke(cli, ["train", str(config)])
    assert result.exit_code == 0, result.output
    assert len(seen) == 2 and all(frozen > 1000 for frozen, _ in seen)
    assert {state for _, state in seen} == {"applied" if GLIBC else "unavailable"}
    assert gc.get_freeze_count() == 0
