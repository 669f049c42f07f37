"""Beyond one machine (issue 25): two torchrun "nodes" on this machine train exactly as
``--nproc 2`` does, and torchrun's elastic restart after a rank is killed with SIGKILL
resumes from ``latest.pth`` by itself and ends with the weights of an uninterrupted run, bit
for bit, with ``--max-restarts 1`` as a job would set it. The restarted group meets in
torchrun's agent store, which still holds the killed attempt's keys: detplug gives each
attempt its own key space (``detplug_core.dist.init_distributed``); without it a restarted
rank read its dead peer's gloo address about one run in three ("Connection refused").

Each torchrun agent is a separate process, as on separate machines; they meet through the
c10d rendezvous on localhost (gloo on CPU), exactly as docs/runner.md tells each node to run.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
import torch

from detplug_core.runner.checkpoint import load_file

pytestmark = pytest.mark.slow

CONFIG = """\
model: {type: ToyDetector}
train_dataloader:
  batch_size: 2          # per process
  dataset: {type: ToyShapes, num_images: 16}
val_dataloader:
  batch_size: 2
  dataset: {type: ToyShapes, num_images: 4, seed: 1}
metrics: [{type: ToyMetric}]
optimizer: {type: SGD, lr: 0.05, momentum: 0.9}
train: {by_epoch: false, max_iters: 8, val_interval: 8, log_interval: 1}
checkpoint: {interval: 2}
seed: 0
deterministic: true
"""

# torchrun's entry point for the elastic test: rank 1 of the first attempt kills itself
# (SIGKILL, through the toy plugin) after iteration 5; the restarted group runs detplug as is.
KILL_ONCE = """\
import os, runpy, sys
kill_at = sys.argv.pop(1)
if os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0" and os.environ.get("RANK") == "1":
    os.environ["DETPLUG_TOY_KILL_AT"] = kill_at
sys.argv[0] = "detplug"
runpy.run_module("detplug_core.cli.main", run_name="__main__")
"""

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(work) -> list[dict]:
    lines = (work / "scalars.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k.startswith("loss")} for x in lines]


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "toy_ddp.yaml"
    path.write_text(CONFIG)
    return path


def test_two_nodes_train_as_nproc_2(detplug, toy_env, tmp_path, config):
    reference = tmp_path / "nproc2"
    res = detplug("train", str(config), "--nproc", "2", "--work-dir", str(reference), timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr

    work = tmp_path / "two_nodes"
    node = [
        *TORCHRUN,
        "--nnodes",
        "2",
        "--nproc-per-node",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"localhost:{_free_port()}",
        "-m",
        "detplug_core.cli.main",
        "-p",
        "runner_toy",
        "train",
        str(config),
        "--work-dir",
        str(work),
    ]
    nodes = [
        subprocess.Popen(node, cwd=tmp_path, env=toy_env(), stdout=subprocess.PIPE, text=True,
                         stderr=subprocess.STDOUT)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [n.communicate(timeout=300)[0] for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], "\n".join(outputs)
    assert "world size 2" in (work / "log.txt").read_text()
    assert _losses(work) == _losses(reference)  # same ranks, same order: exactly equal
    a, b = load_file(work / "latest.pth")["model"], load_file(reference / "latest.pth")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_elastic_restart_resumes_by_itself_and_ends_bitwise_equal(toy_env, tmp_path, config):
    script = tmp_path / "kill_once.py"
    script.write_text(KILL_ONCE)

    def torchrun(work, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                *TORCHRUN,
                "--nnodes",
                "1",
                "--nproc-per-node",
                "2",
                "--max-restarts",
                "1",
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                f"localhost:{_free_port()}",
                *extra,
                "-p",
                "runner_toy",
                "train",
                str(config),
                "--work-dir",
                str(work),
            ],
            cwd=tmp_path,
            env=toy_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )

    uninterrupted = tmp_path / "uninterrupted"
    res = torchrun(uninterrupted, "-m", "detplug_core.cli.main")
    assert res.returncode == 0, res.stdout + res.stderr

    work = tmp_path / "elastic"
    res = torchrun(work, str(script), "5")
    assert res.returncode == 0, res.stdout + res.stderr
    log = (work / "log.txt").read_text()
    assert "resumed from" in log and "latest.pth" in log, log  # the restart found it alone
    assert load_file(work / "latest.pth")["iter"] == 8
    a = load_file(work / "latest.pth")
    b = load_file(uninterrupted / "latest.pth")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert _losses(work)[-1] == _losses(uninterrupted)[-1]
