"""Detectors converted from torchvision against torchvision's own (detplug-fcos,
detplug-retinanet, detplug-faster-rcnn): the parts their converter and equivalence tests
share."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torchvision.ops.misc import FrozenBatchNorm2d

# Outputs and losses of a converted detector against torchvision's, on identical features.
TOL = {"rtol": 1e-4, "atol": 1e-4}


@torch.no_grad()
def randomize_detector(
    model: nn.Module,
    heads: tuple[str, ...],
    finals: tuple[str, ...],
    layers: tuple[type[nn.Module], ...] = (nn.Conv2d,),
    keep_bias: bool = False,
    seed: int = 0,
) -> None:
    """Random FrozenBatchNorm statistics and affine; weights of the ``layers`` under the
    module prefixes ``heads`` with enough spread that scores and boxes vary (torchvision's
    init makes every anchor or proposal look the same). Layers whose names end with one of
    ``finals`` get small weights and spread biases; ``keep_bias`` adds the biases' noise to
    their initial values (RetinaNet's prior-probability bias) instead of replacing them."""
    g = torch.Generator().manual_seed(seed)
    for name, m in model.named_modules():
        if isinstance(m, FrozenBatchNorm2d):
            n = m.weight.numel()
            m.weight.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
        elif isinstance(m, layers) and name.startswith(heads):
            final = name.endswith(finals)
            std = 0.003 if final else (2 / m.weight[0].numel()) ** 0.5
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * std)
            noise = torch.randn(m.bias.shape, generator=g) * (1.0 if final else 0.1)
            m.bias.add_(noise) if keep_bias else m.bias.copy_(noise)


@torch.no_grad()
def randomize_frozen_bn_statistics(model: nn.Module) -> None:
    """Running statistics of every FrozenBatchNorm2d away from (0, 1), from torch's global
    generator (so that a converter that drops or mixes them up is caught)."""
    for m in model.modules():
        if isinstance(m, FrozenBatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
            m.running_mean.normal_(0, 0.2)


class SharedFeatures(nn.Module):
    """Stands in for torchvision's backbone: detplug's backbone + neck, under ``names``
    (torchvision's level names, for models that pick levels by name) or the neck's own.

    Running torchvision's detector on detplug's features keeps rounding differences of the
    backbone (detplug folds FrozenBatchNorm into the convolutions) from swapping near-equal
    scores, so everything detector-specific can be compared at ``TOL``."""

    def __init__(self, ours: nn.Module, names: Sequence[str] | None = None) -> None:
        super().__init__()
        self.ours = [ours]  # not a submodule: no parameters of its own
        self.names = list(names) if names is not None else None
        self.out_channels = ours.neck.out_channels

    def forward(self, x: Tensor) -> OrderedDict:
        ours = self.ours[0]
        feats = ours.neck(ours.backbone(x))
        if self.names is None:
            return OrderedDict(feats)
        return OrderedDict(zip(self.names, feats.values(), strict=True))


class EquivalentPair(NamedTuple):
    """torchvision's detector and detplug's, holding the same (converted) weights."""

    tv: nn.Module  # running on detplug's features (SharedFeatures)
    ours: nn.Module
    tv_backbone: nn.Module  # torchvision's own backbone + FPN
    tv_state: dict  # torchvision's state dict, as converted


def on_shared_features(
    tv: nn.Module, ours: nn.Module, names: Sequence[str] | None = None
) -> EquivalentPair:
    """The pair, with torchvision's backbone replaced by :class:`SharedFeatures` of
    ``ours`` (level ``names`` as torchvision's detector picks them, if it does)."""
    tv_backbone, tv_state = tv.backbone, tv.state_dict()
    tv.backbone = SharedFeatures(ours, names)
    return EquivalentPair(tv, ours, tv_backbone, tv_state)


@torch.no_grad()
def assert_backbone_features_match(
    pair: EquivalentPair, images: Sequence[Tensor], levels: int
) -> None:
    """detplug's backbone + neck and torchvision's own give the same ``levels`` feature
    maps on the preprocessed ``images`` (:func:`assert_features_close`)."""
    pair.ours.eval()
    x, _ = pair.ours.preprocessor(images)
    expected = list(pair.tv_backbone(x).values())
    got = list(pair.ours.neck(pair.ours.backbone(x)).values())
    assert len(got) == levels
    assert_features_close(got, expected)


def random_images(sizes: Iterable[tuple[int, int]], seed: int = 1) -> list[Tensor]:
    """One random [3, H, W] image in 0..1 per size."""
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(3, h, w, generator=g) for h, w in sizes]


def random_targets(
    sizes: Iterable[tuple[int, int]], seed: int, num_boxes: int = 5, labels: int = 91
) -> list[dict[str, Tensor]]:
    """torchvision-style targets per image size: boxes inside the image, at least 8 px
    wide and high, labels in 1..labels-1 (torchvision's 0 is the background)."""
    g = torch.Generator().manual_seed(seed)
    targets = []
    for h, w in sizes:
        xy = torch.rand(num_boxes, 2, generator=g) * torch.tensor([w * 0.7, h * 0.7])
        wh = torch.rand(num_boxes, 2, generator=g) * torch.tensor([w * 0.5, h * 0.5]) + 8
        boxes = torch.cat([xy, (xy + wh).minimum(torch.tensor([w, h]))], dim=1)
        targets.append(
            {"boxes": boxes, "labels": torch.randint(1, labels, (num_boxes,), generator=g)}
        )
    return targets


def sort_detections(det: dict[str, Tensor]) -> dict[str, Tensor]:
    """Detections in descending score order (stable), to compare two models' outputs."""
    order = det["scores"].argsort(descending=True, stable=True)
    return {k: v[order] for k, v in det.items()}


def align_near_ties(
    got: dict[str, Tensor], want: dict[str, Tensor], atol: float = 1e-4
) -> dict[str, Tensor]:
    """``got`` reordered to pair with ``want`` where ``want`` has near-ties.

    Both come sorted by :func:`sort_detections`. Two implementations of one detector agree
    on scores to ~1e-6, so two detections whose scores lie closer than that may come out in
    either order. Within each run of ``want`` whose neighbouring scores differ by at most
    ``atol``, each of ``want``'s detections takes the detection of ``got`` at those positions
    with the same label and the nearest box; every other position is left as it is, so the
    caller's element-wise comparison stays strict.
    """
    count = min(len(got["scores"]), len(want["scores"]))
    order = torch.arange(len(got["scores"]))
    start = 0
    while start < count:
        end = start + 1
        while end < count and float(want["scores"][end - 1] - want["scores"][end]) <= atol:
            end += 1
        free = list(range(start, end))
        for k in range(start, end):
            cost = [
                float((got["boxes"][f] - want["boxes"][k]).abs().max())
                + 1e9 * float(got["labels"][f] != want["labels"][k])
                for f in free
            ]
            order[k] = free.pop(min(range(len(free)), key=cost.__getitem__))
        start = end
    return {key: value[order] for key, value in got.items()}


def assert_detections_match(
    got: dict[str, Tensor], want: dict[str, Tensor], tol: dict[str, float] = TOL
) -> None:
    """One image's detections of two implementations (labels numbered alike): sorted by
    score, near-ties paired (:func:`align_near_ties`), then equal labels and scores and
    boxes within ``tol``."""
    got, want = sort_detections(got), sort_detections(want)
    got = align_near_ties(got, want, tol["atol"])
    assert torch.equal(got["labels"], want["labels"])
    torch.testing.assert_close(got["scores"], want["scores"], **tol)
    torch.testing.assert_close(got["boxes"], want["boxes"], **tol)


def assert_features_close(got: Sequence[Tensor], expected: Sequence[Tensor]) -> None:
    """Pyramid features of two backbones: detplug folds FrozenBatchNorm into convolutions,
    so they agree to 1e-4 relative to each level's largest value."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4 * e.abs().max().item())
