"""Every hook's config keys and values are checked with clear errors."""

from __future__ import annotations

import pytest

from detplug_core import HOOKS
from detplug_core.errors import BuildError

ALL_HOOKS = {
    "TensorBoardHook": "log_dir",
    "CSVLoggerHook": "filename",
    "EMAHook": "decay",
    "EarlyStoppingHook": "patience",
    "CheckInvalidLossHook": "interval",
    "PredictionPreviewHook": "num_images",
    "SpeedMonitorHook": "interval",
}
REQUIRED = {"EarlyStoppingHook": {"monitor": "coco/mAP"}}


@pytest.mark.parametrize("name", sorted(ALL_HOOKS))
def test_each_hook_builds_from_its_scoped_name_with_defaults(name):
    hook = HOOKS.build({"type": f"hooks.{name}", **REQUIRED.get(name, {})})
    assert type(hook).__name__ == name


@pytest.mark.parametrize(("name", "key"), sorted(ALL_HOOKS.items()))
def test_a_misspelt_key_names_path_suggestion_and_accepted_parameters(name, key):
    typo = key[:-1] + key[-1] * 2  # "decay" -> "decayy"
    cfg = {"type": name, **REQUIRED.get(name, {}), typo: 1}
    with pytest.raises(BuildError) as info:
        HOOKS.build(cfg, path="hooks.3")
    message = str(info.value)
    assert message.startswith(f"hooks.3.{typo}: {name} has no parameter '{typo}'")
    assert f"did you mean '{key}'?" in message
    assert "Accepted parameters: " in message and key in message.split("Accepted")[1]


BAD_VALUES = [
    (
        "EarlyStoppingHook",
        {"rule": "bigger"},
        "EarlyStoppingHook.rule: must be one of 'greater', 'less', got 'bigger'",
    ),
    ("EarlyStoppingHook", {"patience": 0}, "EarlyStoppingHook.patience: must be an integer >= 1"),
    ("EarlyStoppingHook", {"min_delta": -0.1}, "EarlyStoppingHook.min_delta: must be a number"),
    ("EarlyStoppingHook", {"monitor": ""}, "EarlyStoppingHook.monitor: must be a non-empty"),
    ("EMAHook", {"decay": 1.0}, "EMAHook.decay: must be a number in [0, 1)"),
    ("EMAHook", {"momentum": 0}, "EMAHook.momentum: must be a number in (0, 1]"),
    ("EMAHook", {"decay": 0.9, "momentum": 0.1}, "EMAHook: give decay or momentum"),
    ("EMAHook", {"warmup_iters": -1}, "EMAHook.warmup_iters: must be an integer >= 0"),
    ("EMAHook", {"eval_with_ema": "yes"}, "EMAHook.eval_with_ema: must be true or false"),
    ("EMAHook", {"interval": 1.5}, "EMAHook.interval: must be an integer >= 1, got 1.5"),
    ("TensorBoardHook", {"interval": 0}, "TensorBoardHook.interval: must be an integer >= 1"),
    ("TensorBoardHook", {"log_dir": ""}, "TensorBoardHook.log_dir: must be a non-empty string"),
    ("CSVLoggerHook", {"filename": None}, "CSVLoggerHook.filename: must be a non-empty string"),
    (
        "CheckInvalidLossHook",
        {"interval": True},
        "CheckInvalidLossHook.interval: must be an integer",
    ),
    ("CheckInvalidLossHook", {"save_checkpoint": 1}, "CheckInvalidLossHook.save_checkpoint"),
    (
        "PredictionPreviewHook",
        {"score_thr": 1.5},
        "PredictionPreviewHook.score_thr: must be a number in [0, 1]",
    ),
    ("PredictionPreviewHook", {"num_images": 0}, "PredictionPreviewHook.num_images"),
    ("SpeedMonitorHook", {"interval": -5}, "SpeedMonitorHook.interval: must be an integer >= 1"),
]


@pytest.mark.parametrize(("name", "args", "expected"), BAD_VALUES)
def test_bad_values_are_one_clear_build_error(name, args, expected):
    with pytest.raises(BuildError) as info:
        HOOKS.build({"type": name, **REQUIRED.get(name, {}), **args})
    assert str(info.value).startswith(expected), str(info.value)


def test_early_stopping_rule_defaults_from_the_key():
    assert HOOKS.build({"type": "EarlyStoppingHook", "monitor": "val/loss"}).rule == "less"
    assert HOOKS.build({"type": "EarlyStoppingHook", "monitor": "coco/mAP"}).rule == "greater"


def test_missing_required_monitor_is_a_build_error():
    with pytest.raises(BuildError, match="EarlyStoppingHook.*monitor"):
        HOOKS.build({"type": "EarlyStoppingHook"}, path="hooks.0")


def test_a_wrong_key_in_a_runner_config_names_the_hooks_entry(kit, tmp_path):
    from detplug_core import Runner

    hooks = [
        {"type": "CSVLoggerHook"},
        {"type": "EarlyStoppingHook", "monitor": "seq/mAP", "patiance": 3},
    ]
    with pytest.raises(
        BuildError,
        match=r"^hooks\.1\.patiance: EarlyStoppingHook has no "
        r"parameter 'patiance'; did you mean 'patience'\?",
    ):
        Runner(kit.tiny_config(tmp_path, hooks))


def test_detplug_train_reports_a_wrong_hook_key_in_one_line_with_exit_code_2(kit, tmp_path):
    import yaml
    from click.testing import CliRunner

    from detplug_core.cli.main import cli

    hooks = [{"type": "TensorBoardHook", "log_dri": "tb"}]
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(kit.tiny_config(tmp_path / "run", hooks)))
    result = CliRunner().invoke(cli, ["train", str(config)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: hooks.0.log_dri: TensorBoardHook has no parameter 'log_dri'; did you mean "
        "'log_dir'? Accepted parameters: log_dir, interval, flush_secs"
    ]
