"""RetinaNet and Faster R-CNN: detplug against torchvision, same weights, same run, CPU.

For each detector, torchvision's ResNet-50 FPN model (as built for pretrained weights:
FrozenBatchNorm2d, 3 trainable stages) gets random weights and BatchNorm statistics; the
plugin's converter moves them into detplug's model of the ``*_r50_fpn_tv`` config. Both
see the same images, sized so torchvision's internal resize is the identity.

* eval latency: ``model(images)`` under ``torch.no_grad()``, batch 1 and batch 2;
* train step: forward, backward and an SGD step on batch 2 with 4 boxes per image
  (Faster R-CNN's samplers seeded alike before each step).

Ours and torchvision's alternate inside each repetition, so load from other processes hits
both alike; the median over repetitions counts, after one warm-up each.

Run:  python benchmarks/detectors_speed.py [--size 384 512] [--repeat 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torchvision.models import resnet50
from torchvision.models.detection import FasterRCNN, RetinaNet
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

from detplug_core import MODELS
from detplug_core.config import load_config


def randomize(model: torch.nn.Module) -> None:
    """Random BatchNorm statistics, and final head layers with enough spread that the RPN
    keeps ~1000 proposals and the detectors output many boxes, as trained models do
    (torchvision's initialisation makes every anchor look the same, and NMS keeps few)."""
    g = torch.Generator().manual_seed(0)
    finals = ("cls_logits", "bbox_reg", "bbox_pred", "cls_score")
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, FrozenBatchNorm2d):
                n = m.weight.numel()
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            elif name.endswith(finals):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.003)
                m.bias.add_(torch.randn(m.bias.shape, generator=g))


def retinanet_pair(size: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    from detplug_retinanet.convert import convert_state_dict

    body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(body, 3, [2, 3, 4], LastLevelP6P7(256, 256))
    tv = RetinaNet(backbone, 91, min_size=size, max_size=4000, _skip_resize=True)
    randomize(tv)
    cfg = load_config("retinanet::models/retinanet_r50_fpn.yaml")["model"]
    cfg["head"]["num_classes"] = 91
    ours = MODELS.build(cfg)
    ours.load_state_dict(convert_state_dict(tv.state_dict(), classes="all"))
    return tv, ours


def faster_rcnn_pair(size: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    from detplug_faster_rcnn.convert import convert_state_dict

    body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    tv = FasterRCNN(
        _resnet_fpn_extractor(body, 3), 91, min_size=size, max_size=4000, _skip_resize=True
    )
    randomize(tv)
    cfg = load_config("faster_rcnn::models/faster_rcnn_r50_fpn.yaml")["model"]
    cfg["roi_head"]["num_classes"] = 90
    ours = MODELS.build(cfg)
    ours.load_state_dict(convert_state_dict(tv.state_dict(), classes="all"))
    return tv, ours


def targets(h: int, w: int, label_offset: int) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(2):
        xy = torch.rand(4, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
        wh = torch.rand(4, 2, generator=g) * torch.tensor([w * 0.3, h * 0.3]) + 16
        labels = torch.randint(1, 81, (4,), generator=g) - label_offset
        out.append({"boxes": torch.cat([xy, xy + wh], dim=1), "labels": labels})
    return out


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(tv: torch.nn.Module, ours: torch.nn.Module, cases: dict, repeat: int) -> dict:
    """Median seconds per case for torchvision and ours, alternating."""
    results = {}
    for name, (mode, make_fn) in cases.items():
        tv.train(mode == "train")
        ours.train(mode == "train")
        fns = {"torchvision": make_fn(tv, True), "detplug": make_fn(ours, False)}
        for fn in fns.values():
            fn()  # warm-up
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(repeat):
            for key, fn in fns.items():
                times[key].append(timed(fn))
        results[name] = {k: statistics.median(v) for k, v in times.items()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[384, 512], metavar=("H", "W"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", choices=["retinanet", "faster_rcnn"], default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = args.size
    torch.manual_seed(0)
    images = [torch.rand(3, h, w) for _ in range(2)]

    def eval_fn(batch: int) -> Callable:
        def make(model: torch.nn.Module, _: bool) -> Callable[[], object]:
            def run() -> object:
                with torch.no_grad():
                    return model(images[:batch])

            return run

        return make

    def train_fn(label_offset: int) -> Callable:
        def make(model: torch.nn.Module, is_tv: bool) -> Callable[[], object]:
            opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-5)
            tgts = targets(h, w, 0 if is_tv else label_offset)

            def run() -> None:
                torch.manual_seed(0)
                loss = sum(model(images, tgts).values())
                opt.zero_grad()
                loss.backward()
                opt.step()

            return run

        return make

    detectors = {"retinanet": (retinanet_pair, 0), "faster_rcnn": (faster_rcnn_pair, 1)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, images {h}x{w}")
    print(f"{'detector':<12} {'case':<16} {'torchvision s':>13} {'detplug s':>10} {'ratio':>6}")
    for name, (build, offset) in detectors.items():
        if args.only and name != args.only:
            continue
        tv, ours = build(h)
        cases = {
            "eval batch 1": ("eval", eval_fn(1)),
            "eval batch 2": ("eval", eval_fn(2)),
            "train step b2": ("train", train_fn(offset)),
        }
        tv.eval()
        with torch.no_grad():
            found = [len(d["boxes"]) for d in tv(images)]
        print(f"{name}: torchvision finds {found} boxes in the two images")
        for case, t in compare(tv, ours, cases, args.repeat).items():
            ratio = t["detplug"] / t["torchvision"]
            print(
                f"{name:<12} {case:<16} {t['torchvision']:13.3f} {t['detplug']:10.3f} {ratio:6.2f}"
            )


if __name__ == "__main__":
    main()
