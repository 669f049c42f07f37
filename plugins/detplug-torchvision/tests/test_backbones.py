"""ResNet and MobileNetV3 backbones: shapes, freezing, norms, init from a local file."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.backbones import MobileNetV3, ResNet
from torch import nn
from torchvision.models import resnet18
from torchvision.ops.misc import FrozenBatchNorm2d

from detplug_core import MODELS
from detplug_core.errors import BuildError, CheckpointError


@pytest.fixture(autouse=True)
def _single_thread():
    """One intra-op thread: on a small shared machine two threads are slower and noisier."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("depth", "channels"), [(18, [128, 256, 512]), (34, [128, 256, 512]), (50, [512, 1024, 2048])]
)
def test_resnet_out_channels(depth: int, channels: list[int]) -> None:
    assert ResNet(depth=depth).out_channels == channels


def test_resnet_outputs_match_declared_shapes() -> None:
    net = ResNet(depth=18, out_indices=(1, 2, 3, 4)).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 96))
    assert list(out) == ["c2", "c3", "c4", "c5"] == net.out_names
    for (name, fmap), ch, stride in zip(
        out.items(), net.out_channels, net.out_strides, strict=True
    ):
        assert fmap.shape == (2, ch, 64 // stride, 96 // stride), name


def test_resnet_out_indices_by_name() -> None:
    a, b = ResNet(depth=18, out_indices=["layer3", "c5"]), ResNet(depth=18, out_indices=[3, 4])
    assert a.out_names == b.out_names == ["c4", "c5"]
    with pytest.raises(BuildError, match="not a stage"):
        ResNet(depth=18, out_indices=[5])


def test_resnet_frozen_stages_and_norm() -> None:
    net = ResNet(depth=18, frozen_stages=1)
    assert any(isinstance(m, FrozenBatchNorm2d) for m in net.modules())
    frozen = {n for n, p in net.named_parameters() if not p.requires_grad}
    assert "body.conv1.weight" in frozen and "body.layer1.0.conv1.weight" in frozen
    assert not any(n.startswith(("body.layer2", "body.layer3")) for n in frozen)
    bn = ResNet(depth=18, frozen_stages=2, norm="BN").train()
    assert not bn.body.layer2.training and not bn.body.bn1.training
    assert bn.body.layer3.training
    everything = ResNet(depth=18, frozen_stages=-1, norm="BN")
    assert all(p.requires_grad for p in everything.parameters())


def test_resnet_norm_eval_keeps_statistics() -> None:
    net = ResNet(depth=18, frozen_stages=-1, norm="BN", norm_eval=True).train()
    assert net.training and not any(
        m.training for m in net.modules() if isinstance(m, nn.BatchNorm2d)
    )
    before = net.body.layer3[0].bn1.running_mean.clone()
    net(torch.rand(2, 3, 64, 64))
    assert torch.equal(before, net.body.layer3[0].bn1.running_mean)


def test_resnet_bad_arguments_name_the_key_path() -> None:
    with pytest.raises(BuildError, match="depth"):
        MODELS.build({"type": "ResNet", "depth": 42})
    with pytest.raises(BuildError, match="norm"):
        MODELS.build({"type": "ResNet", "depth": 18, "norm": "LN"})
    with pytest.raises(BuildError, match=r"ResNet\.frozen_stage.*frozen_stages"):
        MODELS.build({"type": "ResNet", "frozen_stage": 1})


def test_resnet_init_from_torchvision_imagenet_file(tmp_path) -> None:
    ref = resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    net = ResNet(depth=18, init={"checkpoint": str(tmp_path / "r18.pth")})
    assert torch.equal(net.body.layer4[1].conv2.weight, ref.layer4[1].conv2.weight)
    assert torch.equal(net.body.bn1.running_var, ref.bn1.running_var)


def test_resnet_init_with_prefix_and_errors(tmp_path) -> None:
    ref = ResNet(depth=18, out_indices=(2, 3, 4))
    nested = {"model": {f"backbone.body.{k}": v for k, v in ref.body.state_dict().items()}}
    torch.save(nested, tmp_path / "det.pth")
    net = ResNet(
        depth=18, init={"checkpoint": str(tmp_path / "det.pth"), "prefix": "backbone.body."}
    )
    assert torch.equal(net.body.layer3[0].conv1.weight, ref.body.layer3[0].conv1.weight)
    with pytest.raises(CheckpointError, match="lacks"):
        ResNet(depth=18, init={"checkpoint": str(tmp_path / "det.pth")})
    with pytest.raises(CheckpointError, match="not found"):
        ResNet(depth=18, init={"checkpoint": str(tmp_path / "missing.pth")})
    with pytest.raises(BuildError, match="init"):
        ResNet(depth=18, init={"path": "x"})


def test_mobilenet_v3_stages() -> None:
    net = MobileNetV3(out_indices=(3, 4, 5)).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 64, 64))
    assert list(out) == ["stage3", "stage4", "stage5"]
    for fmap, ch, stride in zip(out.values(), net.out_channels, net.out_strides, strict=True):
        assert fmap.shape == (1, ch, 64 // stride, 64 // stride)
    # Stage starts are blocks 0, 2, 4, 7, 13, 16: frozen_stages=2 freezes blocks 0..6.
    frozen = MobileNetV3(frozen_stages=2)
    grads = [any(p.requires_grad for p in m.parameters()) for m in frozen.body.children()]
    assert grads == [False] * 7 + [True] * 10


def test_resnet_folded_frozen_bn_matches_torchvision_forward() -> None:
    """With FrozenBN the forward folds each BN into its conv; the result, its gradients and
    the eval-time cache agree with torchvision's unfolded modules."""
    torch.manual_seed(0)
    net = ResNet(depth=18, frozen_stages=-1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, FrozenBatchNorm2d):
                m.weight.uniform_(0.5, 1.5), m.running_var.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1), m.running_mean.normal_(0, 0.1)
    x = torch.rand(2, 3, 64, 64)
    ref, out = net.body(x), net(x)
    for a, b in zip(ref.values(), out.values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    sum(v.sum() for v in ref.values()).backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    net.zero_grad()
    sum(v.sum() for v in out.values()).backward()
    for n, p in net.named_parameters():  # sums of many terms: compare to their scale
        assert (p.grad - grads[n]).abs().max() <= 1e-4 * grads[n].abs().max(), n
    with torch.no_grad():
        cached = net(x)["c5"]
        net.body.layer4[0].conv1.weight.mul_(2)  # the cache must notice
        torch.testing.assert_close(net(x)["c5"], net.body(x)["c5"], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(cached, net(x)["c5"])
