"""TensorBoardHook, CSVLoggerHook and SpeedMonitorHook in a real (tiny) run."""

from __future__ import annotations

import csv
import json

import pytest

LOGGERS = [
    {"type": "TensorBoardHook"},
    {"type": "CSVLoggerHook"},
    {"type": "SpeedMonitorHook"},
]
SPEED_KEYS = ("speed/iter_time", "speed/data_time", "speed/images_per_sec", "speed/peak_memory_mb")


@pytest.fixture
def logged_run(kit, tmp_path):
    """6 iterations, a log line every 2, validation after 3 and 6."""
    kit.run_training(kit.tiny_config(tmp_path, LOGGERS))
    lines = (tmp_path / "scalars.jsonl").read_text().splitlines()
    return tmp_path, [json.loads(line) for line in lines]


def test_tensorboard_event_files_hold_the_runners_logged_scalars(logged_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    work_dir, records = logged_run
    events = list((work_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(work_dir / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for name in ("lr", "loss_cls", "loss_box", "loss", *SPEED_KEYS):
        assert f"train/{name}" in tags
        read = [(e.step, e.value) for e in acc.Scalars(f"train/{name}")]
        expected = [(r["iter"], pytest.approx(r[name], rel=1e-6)) for r in records]
        assert read == expected, name
    metrics = [json.loads(x) for x in (work_dir / "metrics.jsonl").read_text().splitlines()]
    read = [(e.step, e.value) for e in acc.Scalars("val/seq/mAP")]
    assert (
        read
        == [(m["iter"], pytest.approx(m["seq/mAP"])) for m in metrics]
        == [
            (3, pytest.approx(0.5)),
            (6, pytest.approx(0.5)),
        ]
    )


def test_csv_has_a_row_per_log_step_and_per_evaluation(logged_run):
    work_dir, records = logged_run
    with open(work_dir / "scalars.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["mode"], r["iter"]) for r in rows] == [
        ("train", "2"),
        ("val", "3"),
        ("train", "4"),
        ("train", "6"),
        ("val", "6"),
    ]
    train = [r for r in rows if r["mode"] == "train"]
    for row, record in zip(train, records, strict=True):
        for key in ("lr", "loss_cls", "loss_box", "loss", *SPEED_KEYS):
            assert float(row[key]) == pytest.approx(record[key], rel=1e-9), key
    assert [float(r["seq/mAP"]) for r in rows if r["mode"] == "val"] == [0.5, 0.5]


def test_speed_monitor_scalars_are_in_the_runners_log(logged_run):
    work_dir, records = logged_run
    for record in records:
        assert 0 < record["speed/data_time"] < record["speed/iter_time"] < 10
        assert record["speed/images_per_sec"] == pytest.approx(
            2 / record["speed/iter_time"], rel=1e-6
        )
        assert record["speed/peak_memory_mb"] > 10  # the process's peak RSS on CPU
    assert "speed/images_per_sec" in (work_dir / "log.txt").read_text()


def test_csv_drops_rows_past_the_resumed_iteration(kit, tmp_path):
    cfg = kit.tiny_config(tmp_path, [{"type": "CSVLoggerHook"}], checkpoint={"interval": 2})
    kit.run_training({**cfg, "hooks": [*cfg["hooks"], {"type": "StopAtHook", "iteration": 4}]})
    (tmp_path / "iter_4.pth").unlink()  # as if killed before this checkpoint was written
    (tmp_path / "latest.pth").unlink()
    (tmp_path / "latest.pth").hardlink_to(tmp_path / "iter_2.pth")
    kit.run_training({**cfg, "resume": "auto"})
    with open(tmp_path / "scalars.csv", newline="") as f:
        rows = [(r["mode"], r["iter"]) for r in csv.DictReader(f)]
    assert rows == [("train", "2"), ("val", "3"), ("train", "4"), ("train", "6"), ("val", "6")]
