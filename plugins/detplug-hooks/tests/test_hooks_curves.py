"""TrainingCurvesHook draws the logged losses, lr and metrics into one PNG."""

from __future__ import annotations

import json

from detplug_hooks.curves import read_jsonl
from PIL import Image


def test_curves_png_is_drawn_from_the_logged_scalars(kit, tmp_path):
    cfg = kit.tiny_config(tmp_path, [{"type": "TrainingCurvesHook"}])
    kit.run_training(cfg)
    png = tmp_path / "curves.png"
    assert png.exists()
    image = Image.open(png).convert("RGB")
    assert image.size[0] > 1000 and image.size[1] > 300
    # more than a blank canvas: several distinct line colours were drawn
    assert len(image.getcolors(image.size[0] * image.size[1])) > 20
    assert len(read_jsonl(tmp_path / "scalars.jsonl")) == 3  # log_interval 2 over 6 iters


def test_a_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "scalars.jsonl"
    path.write_text(json.dumps({"iter": 1, "loss": 1.0}) + "\n" + '{"iter": 2, "lo')
    assert read_jsonl(path) == [{"iter": 1, "loss": 1.0}]


def test_filename_is_validated(kit, tmp_path):
    import pytest

    from detplug_core import HOOKS
    from detplug_core.errors import DetplugError

    with pytest.raises(DetplugError, match="filename"):
        HOOKS.build({"type": "TrainingCurvesHook", "filename": 3}, path="hooks.0")
