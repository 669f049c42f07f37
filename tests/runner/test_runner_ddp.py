"""Two-process data-parallel training on CPU (gloo) through ``detplug train --nproc 2``
(epoch-based: the shuffled order of each epoch must match the single process's too).

Tolerance: each logged loss of the 2 x 2 images run equals the single-process 4-image run's
within a relative 1e-4 (the gradients agree up to float32 summation order), and so do the
final weights (absolute 1e-5).
"""

from __future__ import annotations

import json

import pytest
import torch

from detplug_core.runner import Runner
from detplug_core.runner.checkpoint import load_file

pytestmark = pytest.mark.slow

DDP_CONFIG = """\
model: {type: ToyDetector}
train_dataloader:
  batch_size: 2          # per process: 2 processes x 2 = the single run's 4
  dataset: {type: ToyShapes, num_images: 16}
val_dataloader:
  batch_size: 2
  dataset: {type: ToyShapes, num_images: 7, seed: 1}   # odd: shards of 4 and 3
metrics: [{type: ToyMetric}]
optimizer: {type: SGD, lr: 0.05, momentum: 0.9}
train: {by_epoch: true, max_epochs: 2, log_interval: 1}   # 4 iterations per epoch
checkpoint: {interval: 1}
seed: 0
deterministic: true
"""


def _records(work) -> list[dict]:
    return [json.loads(x) for x in (work / "scalars.jsonl").read_text().splitlines()]


def test_two_process_ddp_matches_single_process(detplug, tmp_path, toy):
    cfg_path = tmp_path / "ddp.yaml"
    cfg_path.write_text(DDP_CONFIG)
    work = tmp_path / "ddp"
    res = detplug("train", str(cfg_path), "--nproc", "2", "--work-dir", str(work), timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    # rank 0 alone writes: one record per logged step, one line per iteration
    records = _records(work)
    assert [r["iter"] for r in records] == list(range(1, 9))
    log = (work / "log.txt").read_text()
    assert log.count("Epoch [2][4/4]") == 1 and log.count("world size 2") == 1
    assert sorted(p.name for p in work.iterdir()) == [
        "config.yaml",
        "epoch_1.pth",
        "epoch_2.pth",
        "latest.pth",
        "log.txt",
        "metrics.jsonl",
        "results.csv",
        "scalars.jsonl",
    ]
    # metrics gathered from both ranks: every val image counted once
    evals = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    assert [e["toy/num_images"] for e in evals] == [7.0, 7.0]
    # the same global batch in one process
    import yaml

    single = yaml.safe_load(DDP_CONFIG)
    single["train_dataloader"]["batch_size"] = 4
    single["work_dir"] = str(tmp_path / "single")
    with Runner(single) as runner:
        runner.train()
    expected = _records(tmp_path / "single")
    for got, want in zip(records, expected, strict=True):
        for key in ("loss", "loss_cls", "loss_bbox"):
            assert got[key] == pytest.approx(want[key], rel=1e-4), (got["iter"], key)
    a = load_file(work / "latest.pth")["model"]
    b = load_file(tmp_path / "single" / "latest.pth")["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-5)


def test_a_crash_on_one_rank_ends_all_ranks_with_a_clear_message(detplug, tmp_path):
    cfg_path = tmp_path / "ddp.yaml"
    cfg_path.write_text(DDP_CONFIG)
    res = detplug(
        "train",
        str(cfg_path),
        "--nproc",
        "2",
        "--work-dir",
        str(tmp_path / "w"),
        env={"DETPLUG_TOY_FAIL_AT": "1:2"},
        timeout=240,
    )
    assert res.returncode == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr, res.stderr
    assert errors[0].startswith("error: distributed training failed: rank 1 (pid ")
    assert (
        "failed first (hook stage 'after_train_iter' failed in plugin 'runner_toy' "
        "function detplug_runner_toy.after_train_iter: RuntimeError: toy failure on rank 1"
    ) in errors[0]
