"""FCOS speed on CPU: detplug's FCOS against torchvision's, same weights, same inputs.

    .venv/bin/python benchmarks/fcos_speed.py --size 384x512 --repeats 5 --threads 1

Both models are ResNet-50-FPN FCOS with 91 classes and the architecture of torchvision's COCO
weights (FrozenBatchNorm2d); torchvision's weights are random (with random BN statistics and
a class-logit bias that lets a realistic few hundred candidates pass the 0.2 threshold) and
converted into detplug's. Outputs are checked to agree before timing.

Measured: eval-mode latency for batch 1 and batch 4 (each model called under
``torch.no_grad()``, as an evaluation loop does) and one training step (forward, backward,
SGD step, batch 2). Runs of the two models alternate, and each number is the median over
``--repeats`` runs of wall time and of process CPU time (CPU time is far less disturbed by
other jobs on a shared machine). torchvision's model resizes inside (here a scale factor of
exactly 1, which still interpolates); the row "torchvision, resize skipped" patches that out
to show what is left once both skip it. Ratios < 1 mean detplug is faster.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from detplug_fcos.convert import convert_torchvision_fcos
from torch import nn
from torchvision.models.detection import fcos_resnet50_fpn
from torchvision.ops.misc import FrozenBatchNorm2d

from detplug_core import MODELS
from detplug_core.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "fcos::models/fcos_r50_fpn.yaml"


def frozen_bn(module: nn.Module) -> None:
    """BatchNorm2d -> FrozenBatchNorm2d, as torchvision builds its pretrained models."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, FrozenBatchNorm2d(child.num_features, eps=child.eps))
        else:
            frozen_bn(child)


@torch.no_grad()
def randomise(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for name, t in model.state_dict().items():
        if not t.is_floating_point():
            continue
        if t.dim() == 4:
            t.copy_(torch.randn(t.shape, generator=g) / t[0].numel() ** 0.5)
        elif name.endswith("running_var") or (name.endswith("weight") and t.dim() == 1):
            t.copy_(0.5 + torch.rand(t.shape, generator=g))
        elif name.endswith("cls_logits.bias"):
            t.fill_(-4.0)
        else:
            t.copy_(0.1 * torch.randn(t.shape, generator=g))


def build_models(height: int, width: int) -> tuple[nn.Module, nn.Module]:
    tv = fcos_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=91,
        min_size=min(height, width),
        max_size=max(height, width),
    )
    frozen_bn(tv.backbone.body)
    randomise(tv)
    cfg = load_config(CONFIG)["model"]
    cfg["head"]["num_classes"] = 91
    ours = MODELS.build(cfg, path="model")
    ours.load_state_dict(convert_torchvision_fcos(tv.state_dict()))
    return ours, tv


def skip_resize(tv: nn.Module) -> nn.Module:
    model = copy.deepcopy(tv)
    model.transform.resize = lambda image, target=None: (image, target)
    return model


def check_outputs(ours: nn.Module, tv: nn.Module, images: list[torch.Tensor]) -> str:
    ours.eval(), tv.eval()
    with torch.no_grad():
        got, want = ours(images), tv(images)
    worst, count = 0.0, 0
    for g, w in zip(got, want, strict=True):
        if len(g["scores"]) != len(w["scores"]):
            raise SystemExit(f"outputs differ: {len(g['scores'])} vs {len(w['scores'])} boxes")
        go, wo = g["scores"].argsort(descending=True), w["scores"].argsort(descending=True)
        for key in ("boxes", "scores"):
            if len(go):
                worst = max(worst, float((g[key][go] - w[key][wo]).abs().max()))
        count += len(g["scores"])
    return f"{count} detections on {len(images)} images, max |difference| {worst:.2e}"


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, cpu) seconds per case; runs alternate, the order rotating each round."""
    for fn in cases.values():  # warm-up
        fn()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            runs[name].append(timed(cases[name]))
    return {
        name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for name, v in runs.items()
    }


def eval_fn(model: nn.Module, images: list[torch.Tensor]) -> Callable[[], object]:
    def run() -> object:
        with torch.no_grad():
            return model(images)

    return run


def train_fn(model: nn.Module, images, targets) -> Callable[[], object]:
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.0, momentum=0.9
    )  # lr 0: same weights in every run

    def run() -> object:
        losses = model(images, targets)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
        return losses

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="384x512", help="HxW of every input image")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.size.lower().split("x"))
    torch.manual_seed(0)
    ours, tv = build_models(height, width)
    tv_noresize = skip_resize(tv)
    g = torch.Generator().manual_seed(1)
    images = [torch.rand(3, height, width, generator=g) for _ in range(4)]

    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {torch.get_num_threads()} threads, load average "
        f"{os.getloadavg()[0]:.1f}; images {height}x{width}; median of {args.repeats}"
    )
    print("check:", check_outputs(ours, tv, images[:2]))

    rows: list[tuple[str, dict[str, tuple[float, float]]]] = []
    for batch in (1, 4):
        for m in (ours, tv, tv_noresize):
            m.eval()
        cases = {
            "torchvision": eval_fn(tv, images[:batch]),
            "torchvision, resize skipped": eval_fn(tv_noresize, images[:batch]),
            "detplug": eval_fn(ours, images[:batch]),
        }
        rows.append((f"eval batch {batch}", compare(cases, args.repeats)))
    if not args.skip_train:
        boxes = torch.tensor(
            [[20.0, 30.0, 120.0, 150.0], [200.0, 40.0, 330.0, 300.0], [50.0, 200.0, 90.0, 260.0]]
        )
        targets = [{"boxes": boxes, "labels": torch.tensor([1, 18, 62])} for _ in range(2)]
        for m in (ours, tv, tv_noresize):
            m.train()
        cases = {
            "torchvision": train_fn(tv, images[:2], targets),
            "torchvision, resize skipped": train_fn(tv_noresize, images[:2], targets),
            "detplug": train_fn(ours, images[:2], targets),
        }
        rows.append(("train step batch 2", compare(cases, max(3, args.repeats // 2))))

    print(
        f"\n{'case':<20}{'model':<30}{'wall s':>9}{'cpu s':>9}{'wall ratio':>12}{'cpu ratio':>11}"
    )
    for case, result in rows:
        base_wall, base_cpu = result["torchvision"]
        for name, (wall, cpu) in result.items():
            print(
                f"{case:<20}{name:<30}{wall:>9.3f}{cpu:>9.3f}{wall / base_wall:>12.3f}"
                f"{cpu / base_cpu:>11.3f}"
            )


if __name__ == "__main__":
    main()
