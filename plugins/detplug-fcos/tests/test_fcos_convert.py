"""Converter from torchvision FCOS state dicts, as a function and as `detplug convert`."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from detplug_fcos.cli import convert_group
from detplug_fcos.convert import coco80_indices, convert_torchvision_fcos
from detplug_torchvision.testing import assert_convert_refuses_bad_input, convert_with_cli
from fcos_testutils import build_from_config

from detplug_core.errors import CheckpointError

SMALL = "models/fcos_r18_fpn_small.yaml"
BIAS = "head.classification_head.cls_logits.bias"


@pytest.fixture(scope="module")
def tv_state() -> dict[str, torch.Tensor]:
    """A torchvision-style state dict of the small architecture with 91 COCO slots."""
    ours = build_from_config(SMALL, num_classes=91).state_dict()
    with torch.no_grad():
        ours[BIAS].copy_(torch.arange(91, dtype=torch.float32))
    return {k.replace("neck.fpn.", "backbone.fpn."): v for k, v in ours.items()}


def test_convert_renames_and_selects_classes(tv_state) -> None:
    out = convert_torchvision_fcos(tv_state)
    assert "neck.fpn.extra_blocks.p6.weight" in out and "backbone.body.layer1.0.conv1.weight" in out
    assert not any(k.startswith("backbone.fpn.") for k in out)
    assert coco80_indices()[:12] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13]
    assert len(coco80_indices()) == 80
    out = convert_torchvision_fcos(tv_state, coco80_indices())
    assert out[BIAS].tolist() == [float(i) for i in coco80_indices()]
    assert out["head.classification_head.cls_logits.weight"].shape[0] == 80
    with pytest.raises(CheckpointError, match="unexpected key"):
        convert_torchvision_fcos({"roi_heads.x": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="0..90"):
        convert_torchvision_fcos(tv_state, [0, 91])


def test_cli_drop_background_loads_into_model(tv_state, tmp_path) -> None:
    torch.save({"model": tv_state}, tmp_path / "tv.pth")  # torchvision reference-script layout
    result = CliRunner().invoke(
        convert_group,
        [
            "torchvision-fcos",
            str(tmp_path / "tv.pth"),
            str(tmp_path / "out.pth"),
            "--drop-background",
            "--num-classes",
            "90",
        ],
    )
    assert result.exit_code == 0, result.output
    saved = torch.load(tmp_path / "out.pth", weights_only=True)
    assert saved["meta"]["num_classes"] == 90 and saved["model"][BIAS][0] == 1.0
    build_from_config(SMALL, num_classes=90).load_state_dict(saved["model"])
    bad = CliRunner().invoke(
        convert_group,
        [
            "torchvision-fcos",
            str(tmp_path / "tv.pth"),
            str(tmp_path / "x.pth"),
            "--coco80",
            "--drop-background",
        ],
    )
    assert bad.exit_code != 0 and "only one of" in str(bad.exception or bad.output)


def test_detplug_cli_has_the_command(tv_state, tmp_path) -> None:
    _, saved = convert_with_cli("torchvision-fcos", tv_state, tmp_path, "--coco80")
    assert "person" in saved["meta"]["classes"]


def test_bad_input_is_a_one_line_error(tmp_path) -> None:
    assert_convert_refuses_bad_input("torchvision-fcos", tmp_path)
