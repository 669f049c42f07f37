"""Mask R-CNN on detplug-shapes: detplug's shapes recipe against torchvision's MaskRCNN of
the same size, same weights, same batches, in one process, on the CPU.

detplug's model is ``mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml`` (ResNet-18 with BatchNorm,
64-channel FPN P2-P6, small RPN anchors, 256-wide box head, 64 sampled RoIs per image, a
2-conv 64-channel mask head, 3 classes). torchvision's is
``torchvision.models.detection.MaskRCNN`` built to the same sizes: ``resnet18`` with
BatchNorm and every layer trainable under a 64-channel FPN with max-pool P6, an RPN with the
recipe's anchors and proposal counts, ``TwoMLPHead`` 256, the recipe's sampled RoIs per
image, ``MaskRCNNHeads`` of the recipe's 64-channel convolutions and ``MaskRCNNPredictor``
64. torchvision gets detplug's weights through the inverse of detplug-mask-rcnn's converter
(a trained ``--checkpoint`` of the recipe, or the recipe's random initialisation), so both
find the same detections.

* train step: forward, backward and an SGD step on a batch of ``--batch`` shapes training
  images (128 px) with their boxes and masks (both samplers seeded alike before each step);
* eval: ``model(images)`` under ``torch.no_grad()`` on ``--batch`` shapes validation images,
  masks pasted into the images (both models' default).

The two alternate inside each repetition (which one goes first alternating too), so load
from other processes hits both alike; the median over repetitions counts, after a warm-up.

Run:  python benchmarks/mask_rcnn_speed.py [--checkpoint work_dirs/x/best.pth]
          [--batch 8] [--repeat 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from detplug_faster_rcnn.convert import rename as box_rename
from detplug_mask_rcnn.convert import rename as mask_rename
from torch import nn
from torchvision.models import resnet18
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from detplug_core import MODELS
from detplug_core.config import load_config

CONFIG = "mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml"
NUM_CLASSES = 3  # the shapes: rectangle, ellipse, triangle
SIZE = 128


def detplug_model(checkpoint: str | None) -> nn.Module:
    cfg = load_config(CONFIG)["model"]
    cfg["roi_head"]["num_classes"] = NUM_CLASSES
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    if checkpoint:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state.get("model", state))
    return model


def torchvision_model() -> nn.Module:
    """torchvision's MaskRCNN at the recipe's sizes (every default the recipe keeps); the
    sampled RoIs per image and the mask head's convolutions read from the recipe."""
    head = load_config(CONFIG)["model"]["roi_head"]
    convs = [head["mask_head"]["conv_channels"]] * head["mask_head"]["num_convs"]
    body = resnet18(weights=None)
    layers = {f"layer{i}": str(i - 1) for i in range(1, 5)}
    backbone = BackboneWithFPN(body, layers, [64, 128, 256, 512], 64, LastLevelMaxPool())
    anchors = AnchorGenerator(((16,), (32,), (64,), (128,), (256,)), ((0.5, 1.0, 2.0),) * 5)
    return MaskRCNN(
        backbone,
        num_classes=None,
        min_size=SIZE,
        max_size=SIZE,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=1000,
        rpn_post_nms_top_n_train=500,
        rpn_pre_nms_top_n_test=500,
        rpn_post_nms_top_n_test=300,
        box_head=TwoMLPHead(64 * 7 * 7, 256),
        box_predictor=FastRCNNPredictor(256, NUM_CLASSES + 1),
        box_batch_size_per_image=head["batch_size_per_image"],
        mask_head=MaskRCNNHeads(64, convs, 1),
        mask_predictor=MaskRCNNPredictor(64, 64, NUM_CLASSES + 1),
    )


def copy_weights(ours: nn.Module, tv: nn.Module) -> None:
    """detplug's weights into torchvision's model: each torchvision key takes the tensor
    of its detplug name (detplug-mask-rcnn's converter, read backwards)."""
    src = ours.state_dict()
    state = {}
    for key, value in tv.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
            continue
        name = mask_rename(key) if key.startswith("roi_heads.mask_") else box_rename(key)
        if src[name].shape != value.shape:
            raise SystemExit(f"{key} -> {name}: {list(value.shape)} vs {list(src[name].shape)}")
        state[key] = src[name]
    tv.load_state_dict(state)


def shapes_batch(split: str, batch: int) -> tuple[list[torch.Tensor], list[dict]]:
    from detplug_shapes.dataset import ShapesDataset

    ds = ShapesDataset(
        split=split, image_size=SIZE, object_size=(16, 64), min_objects=2, max_objects=8,
        with_masks=True,
    )  # fmt: skip
    images, targets = [], []
    for i in range(batch):
        image, target = ds.load_raw(i)
        images.append(image.as_subclass(torch.Tensor).float() / 255)
        targets.append(
            {
                "boxes": target["boxes"].as_subclass(torch.Tensor),
                "labels": target["labels"],
                "masks": target["masks"].as_subclass(torch.Tensor),
            }
        )
    return images, targets


def alternate(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each function, the two alternating (order flipped each round)."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeat):
        for key in keys if r % 2 == 0 else keys[::-1]:
            start = time.perf_counter()
            fns[key]()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a detplug train checkpoint")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ours = detplug_model(args.checkpoint)
    tv = torchvision_model()
    copy_weights(ours, tv)
    train_images, train_targets = shapes_batch("train", args.batch)
    val_images, _ = shapes_batch("val", args.batch)
    tv_targets = [{**t, "labels": t["labels"] + 1} for t in train_targets]  # 1-based

    def train_step(model: nn.Module, targets: list[dict]) -> Callable[[], None]:
        opt = torch.optim.SGD(model.parameters(), lr=1e-6)

        def run() -> None:
            model.train()
            torch.manual_seed(0)
            loss = sum(model(train_images, targets).values())
            opt.zero_grad()
            loss.backward()
            opt.step()

        return run

    def evaluate(model: nn.Module) -> Callable[[], object]:
        def run() -> object:
            model.eval()
            with torch.no_grad():
                return model(val_images)

        return run

    ours.eval()
    tv.eval()
    with torch.no_grad():
        found = (
            [len(d["boxes"]) for d in tv(val_images)],
            [len(d["boxes"]) for d in ours(val_images)],
        )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch} "
          f"of {SIZE}x{SIZE}, weights: {args.checkpoint or 'random initialisation'}")  # fmt: skip
    print(f"detections per image: torchvision {found[0]}, detplug {found[1]}")
    eval_t = alternate({"torchvision": evaluate(tv), "detplug": evaluate(ours)}, args.repeat)
    train_t = alternate(
        {"torchvision": train_step(tv, tv_targets), "detplug": train_step(ours, train_targets)},
        args.repeat,
    )
    print(f"{'case':<12} {'torchvision s':>13} {'detplug s':>10} {'ratio':>6}")
    for case, t in (("eval", eval_t), ("train step", train_t)):
        ratio = t["detplug"] / t["torchvision"]
        print(f"{case:<12} {t['torchvision']:13.3f} {t['detplug']:10.3f} {ratio:6.3f}")


if __name__ == "__main__":
    main()
