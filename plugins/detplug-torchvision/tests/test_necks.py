"""FPN neck: output names and shapes, and equality with torchvision's detection backbones."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.backbones import MobileNetV3, ResNet
from detplug_torchvision.necks import FPN
from torchvision.models.detection.backbone_utils import mobilenet_backbone, resnet_fpn_backbone
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from detplug_core import MODELS
from detplug_core.errors import BuildError


@pytest.fixture(autouse=True)
def _single_thread():
    """One intra-op thread: on a small shared machine two threads are slower and noisier."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _randomise(module: torch.nn.Module) -> None:
    """Random weights of unit gain and random norm statistics (activations stay O(1))."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not t.is_floating_point():
                continue
            if t.dim() == 4:
                t.copy_(torch.randn(t.shape, generator=g) / t[0].numel() ** 0.5)
            elif name.endswith(("running_var", "weight")):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            else:
                t.copy_(0.1 * torch.randn(t.shape, generator=g))


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (None, ["p3", "p4", "p5"]),
        ("p6p7", ["p3", "p4", "p5", "p6", "p7"]),
        ("pool", ["p3", "p4", "p5", "p6"]),
    ],
)
def test_fpn_levels(extra: str | None, names: list[str]) -> None:
    fpn = FPN([16, 32, 64], out_channels=8, extra_blocks=extra)
    feats = {f"c{i + 3}": torch.rand(1, c, 32 >> i, 24 >> i) for i, c in enumerate([16, 32, 64])}
    out = fpn(feats)
    assert list(out) == names and fpn.num_outs == len(names)
    assert [v.shape[-1] for v in out.values()] == [24, 12, 6, 3, 2][: len(names)]
    assert all(v.shape[1] == 8 for v in out.values())


def test_fpn_p6p7_input_choice() -> None:
    assert FPN([16, 32, 64], 8, "p6p7", p6p7_in="p5").fpn.extra_blocks.p6.in_channels == 8
    c5 = FPN([16, 32, 64], 64, "p6p7", p6p7_in="c5").fpn.extra_blocks
    assert c5.p6.in_channels == 64 and not c5.use_P5  # torchvision would pick P5 here


def test_fpn_errors() -> None:
    with pytest.raises(BuildError, match="in_channels"):
        MODELS.build({"type": "FPN"})
    with pytest.raises(BuildError, match="extra_blocks"):
        FPN([8], extra_blocks="p6")


@pytest.mark.parametrize("p6p7_in", ["p5", "c5"])
def test_resnet_fpn_equals_torchvision(p6p7_in: str) -> None:
    """Same state dict, same outputs as torchvision's resnet_fpn_backbone (FCOS/RetinaNet)."""
    p6_in = 256 if p6p7_in == "p5" else 512
    tv = resnet_fpn_backbone(
        backbone_name="resnet18",
        weights=None,
        trainable_layers=3,
        returned_layers=[2, 3, 4],
        extra_blocks=LastLevelP6P7(p6_in, 256),
    ).eval()
    _randomise(tv)
    body = ResNet(depth=18).eval()
    neck = FPN(body.out_channels, 256, "p6p7", p6p7_in).eval()
    body.load_state_dict({k: v for k, v in tv.state_dict().items() if k.startswith("body.")})
    neck.load_state_dict({k: v for k, v in tv.state_dict().items() if k.startswith("fpn.")})
    x = torch.rand(2, 3, 96, 64)
    with torch.no_grad():
        ref, exact, out = tv(x), neck(body.body(x)), neck(body(x))
    assert list(out) == ["p3", "p4", "p5", "p6", "p7"]
    for a, b, c in zip(ref.values(), exact.values(), out.values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # torchvision's own modules
        torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-5)  # frozen BN folded into convs


def test_mobilenet_fpn_equals_torchvision() -> None:
    """fasterrcnn_mobilenet_v3_large_fpn's backbone: MobileNetV3 + FPN(extra_blocks=pool)."""
    tv = mobilenet_backbone(
        backbone_name="mobilenet_v3_large", weights=None, fpn=True, trainable_layers=6
    ).eval()
    body = MobileNetV3().eval()
    neck = FPN(body.out_channels, 256, "pool").eval()
    _randomise(tv)
    body.load_state_dict({k: v for k, v in tv.state_dict().items() if k.startswith("body.")})
    neck.load_state_dict({k: v for k, v in tv.state_dict().items() if k.startswith("fpn.")})
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(tv(x).values(), neck(body(x)).values(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
