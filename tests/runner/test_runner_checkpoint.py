"""Checkpoint files: atomic writes, latest/keep-last/best, safe loading, load_from report."""

from __future__ import annotations

import pathlib
import pickle

import pytest
import torch
from torch import nn

from detplug_core.errors import CheckpointError
from detplug_core.runner import Runner
from detplug_core.runner.checkpoint import CheckpointFiles, load_file, save_file
from detplug_core.runner.weights import load_weights


class Payload:
    """Unpickling this object would create ``marker``: what a malicious checkpoint does."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "config": Payload(marker)}, evil)
    with pytest.raises(CheckpointError) as info:
        load_file(evil)
    message = str(info.value)
    assert "was refused" in message and "nothing in it was run" in message
    assert "\n" not in message
    assert not marker.exists()
    # the payload is real: an unsafe load would have run it
    torch.load(evil, weights_only=False)
    assert marker.exists()


def test_truncated_empty_and_garbage_files_give_one_clear_error(tmp_path):
    good = save_file({"model": {"w": torch.arange(1000.0)}}, tmp_path / "good.pth")
    data = good.read_bytes()
    cases = {"truncated.pth": data[: len(data) // 2], "empty.pth": b"", "garbage.pth": b"x" * 99}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match=r"is truncated or corrupt") as info:
            load_file(tmp_path / name)
        assert "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_file(tmp_path / "missing.pth")


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = save_file({"v": torch.tensor(1)}, tmp_path / "ckpt.pth")
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        save_file({"v": torch.tensor(2), "bad": lambda: None}, path)  # unpicklable
    assert load_file(path)["v"].item() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]


def test_latest_keep_last_and_best(tmp_path):
    files = CheckpointFiles(tmp_path, keep_last=2)
    for i in range(1, 5):
        files.save({"iter": i}, f"iter_{i}.pth")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["iter_3.pth", "iter_4.pth", "latest.pth"]
    assert load_file(tmp_path / "latest.pth")["iter"] == 4
    best = files.link_best(tmp_path / "iter_3.pth", "coco/mAP")
    assert best.name == "best_coco_mAP.pth" and load_file(best)["iter"] == 3
    files.save({"iter": 5}, "iter_5.pth")  # pruning never touches latest or best
    assert load_file(best)["iter"] == 3 and load_file(tmp_path / "latest.pth")["iter"] == 5
    (tmp_path / ".iter_6.pth.tmp-123").write_bytes(b"half")
    assert [p.name for p in files.remove_stale_temporaries()] == [".iter_6.pth.tmp-123"]


def test_load_from_reports_missing_unexpected_and_mismatched_keys(tmp_path):
    src = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4))
    save_file(
        {"model": {f"module.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "w.pth"
    )
    dst = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 5), nn.Linear(5, 1))
    report = load_weights(dst, tmp_path / "w.pth")
    assert torch.equal(dst[0].weight, src[0].weight)  # loaded (DDP prefix removed)
    assert report.missing == ["2.weight", "2.bias"]
    assert report.unexpected == []
    assert [m[0] for m in report.mismatched] == ["1.weight", "1.bias"]
    assert any(
        "1  " in line and "shape differs: [4, 3] -> [5, 3]" in line for line in report.lines()
    )


def test_checkpoint_holds_everything_and_loads_weights_only(tmp_path, toy_config, toy):
    cfg = toy_config(
        tmp_path,
        hooks=[{"type": "ToyCounterHook"}],
        checkpoint={"interval": 1, "save_best": "toy/recall", "keep_last": 1},
    )
    with Runner(cfg) as runner:
        runner.train()
    ckpt = load_file(tmp_path / "latest.pth")
    assert {
        "model",
        "optimizer",
        "schedulers",
        "scaler",
        "rng",
        "hooks",
        "config",
        "plugins",
        "epoch",
        "iter",
        "epoch_iter",
        "best",
        "meta",
    } <= set(ckpt)
    assert ckpt["epoch"] == 2 and ckpt["iter"] == 6 and ckpt["epoch_iter"] == 0
    assert set(ckpt["rng"]) >= {"python", "numpy", "torch"}
    assert ckpt["hooks"] == {"ToyCounterHook": {"count": 6}, "ValidationHook": {"pending": False}}
    assert ckpt["config"]["seed"] == 0 and ckpt["config"]["work_dir"] == str(tmp_path)
    assert ckpt["optimizer"]["param_groups"][0]["initial_lr"] == 0.05
    assert ckpt["best"]["metric"] == "toy/recall"
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == [
        "best_toy_recall.pth",
        "epoch_2.pth",
        "latest.pth",
    ]
    assert (tmp_path / "config.yaml").is_file()


def test_one_reader_for_every_checkpoint_layout(tmp_path):
    """Runs and converters write ``{"model": ...}``; other libraries ``{"state_dict": ...}``
    or a bare state dict (with DDP's ``module.`` prefix): one function reads them all."""
    from detplug_core.runner.checkpoint import read_state_dict

    weights = {"a.weight": torch.ones(2), "b.bias": torch.zeros(1)}
    layouts = {
        "run.pth": {"model": weights, "optimizer": {}, "iter": 3},
        "converted.pth": {"model": weights, "meta": {"converted_from": "x"}},
        "other.pth": {"state_dict": weights},
        "bare.pth": weights,
        "ddp.pth": {f"module.{k}": v for k, v in weights.items()},
    }
    for name, content in layouts.items():
        torch.save(content, tmp_path / name)
        got = read_state_dict(tmp_path / name)
        assert got.keys() == weights.keys(), name
        assert all(torch.equal(got[k], weights[k]) for k in weights), name


def test_the_one_reader_also_returns_config_and_classes(tmp_path):
    """read_checkpoint (what the predict API uses) gives the weights, the saved config and
    meta.classes of one file read once; a file without them gives None and []."""
    from detplug_core.errors import CheckpointError
    from detplug_core.runner.checkpoint import read_checkpoint

    weights = {"a.weight": torch.ones(2)}
    cfg = {"model": {"type": "X"}}
    torch.save({"model": weights, "config": cfg, "meta": {"classes": ["a", "b"]}}, tmp_path / "r")
    got = read_checkpoint(tmp_path / "r")
    assert got.config == cfg and got.classes == ["a", "b"] and got.state_dict.keys() == {"a.weight"}
    torch.save(weights, tmp_path / "bare")
    got = read_checkpoint(tmp_path / "bare")
    assert got.config is None and got.classes == []
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "missing.pth")
