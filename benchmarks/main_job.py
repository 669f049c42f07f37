"""The main job, timed: `detplug train fcos::fcos_r18_fpn_shapes.yaml` from a fresh work
dir, then its wall time, COCO mAP and AP50 on the shapes val split.

With ``--reference``, the same run is repeated with torchvision's own FCOS (ResNet-18,
128-channel FPN with P6/P7, 2-conv heads) in a plain PyTorch loop: same generated images,
same batch size, iterations, optimizer and lr schedule, evaluated by the same COCOeval;
then both are printed with the ratios.

"training" is the training loop without its evaluations: for detplug from the run's
"training from iteration" line (everything is built, the loop starts) to its last
iteration's line, minus the seconds of the evaluations in between (their
``eval_time`` in metrics.jsonl: the pass, the metric and the hooks that run with it, such as
the curves and previews); checkpoint writes count. For the reference, its loop, which
evaluates at the same iterations (``train.val_interval``) and likewise excludes those
seconds, so both sides do the same number of evaluations. "wall" is everything: for detplug
the whole `detplug train` process, for the reference the dataset, model, loop and
evaluation in this (already started) process.

With ``--pairs N`` the two runs alternate N times (machine speed drifts over a quarter of
an hour; odd pairs run detplug first, even pairs torchvision first) and the median of the
N training ratios is printed. The reference runs in a fresh Python process each time, as
`detplug train` does. Each pair also prints the training seconds of both sides per logged
segment (``train.log_interval``), which shows where a difference falls.

Run:  python benchmarks/main_job.py [--reference] [--pairs 3] [--work-dir work_dirs/bench_main_job]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "fcos::fcos_r18_fpn_shapes.yaml"  # the packaged recipe, as a user names it


def run_detplug(work_dir: Path, overrides: list[str]) -> dict:
    shutil.rmtree(work_dir, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", "train", str(CONFIG), *overrides,
         "--work-dir", str(work_dir)],
        check=True, env={**os.environ, "DETPLUG_PROGRESS": "lines"},
    )  # fmt: skip
    wall = time.perf_counter() - start
    evals = [json.loads(x) for x in (work_dir / "metrics.jsonl").read_text().splitlines()]
    last_iter = max(e["iter"] for e in evals)
    eval_s = sum(e.get("eval_time", 0.0) for e in evals if e["iter"] < last_iter)
    return {
        "wall_s": wall,
        "train_s": training_span(work_dir / "log.txt") - eval_s,
        "eval_s": eval_s,
        "mAP": evals[-1]["coco/mAP"],
        "AP50": evals[-1]["coco/AP50"],
        "timeline": detplug_timeline(work_dir / "log.txt", evals),
    }


def detplug_timeline(log: Path, evals: list[dict]) -> list[tuple[int, float]]:
    """(iteration, training seconds so far) at each logged iteration: the time since the
    "training from iteration" line minus the evaluations that ran before that iteration."""
    start, points = None, []
    for line in log.read_text().splitlines():
        stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        if start is None and "training from iteration" in line:
            start = stamp
        match = re.search(r"Iter \[(\d+)/\d+\]", line)
        if start is not None and match:
            it = int(match.group(1))
            before = sum(e.get("eval_time", 0.0) for e in evals if e["iter"] < it)
            points.append((it, (stamp - start).total_seconds() - before))
    return points


def compare_timelines(ours: list, ref: list) -> None:
    """Per logged segment, detplug's training seconds against the reference's."""
    theirs = dict(ref)
    prev_it, prev_a, prev_b = 0, 0.0, 0.0
    cells = []
    for it, a in ours:
        if it not in theirs:
            continue
        b = theirs[it]
        cells.append(f"{prev_it}-{it}: {a - prev_a:.1f}/{b - prev_b:.1f}")
        prev_it, prev_a, prev_b = it, a, b
    print("segments detplug/torchvision s: " + ", ".join(cells))


def training_span(log: Path) -> float:
    """Seconds from the run's "training from iteration" line (the loop starts; building the
    model, data and optimizer is done) to its last training iteration's line: the loop with
    its in-between evaluations and checkpoints, without the final evaluation."""
    stamps = []
    for line in log.read_text().splitlines():
        stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        stamps.append((stamp, line))
    first = [stamp for stamp, line in stamps if "training from iteration" in line]
    last = [stamp for stamp, line in stamps if re.search(r"Iter \[(\d+)/\1\]", line)]
    return (last[-1] - (first or [stamps[0][0]])[0]).total_seconds()


def run_reference(cfg: dict) -> dict:
    """torchvision FCOS on the same data and recipe, in a plain loop."""
    import torch
    import torchvision
    from detplug_coco.metric import CocoMetric
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    from detplug_core import DATASETS
    from detplug_core.data import detection_collate

    torch.manual_seed(0)
    start = time.perf_counter()
    train_cfg, val_cfg = cfg["train_dataloader"], cfg["val_dataloader"]
    train_set = DATASETS.build(train_cfg["dataset"])
    val_set = DATASETS.build(val_cfg["dataset"])
    size = int(train_cfg["dataset"]["image_size"])
    backbone = BackboneWithFPN(
        torchvision.models.resnet18(),
        {"layer2": "0", "layer3": "1", "layer4": "2"},
        [128, 256, 512],
        128,
        extra_blocks=LastLevelP6P7(128, 128),
    )
    post = cfg["model"]["postprocess"]
    model = FCOS(
        backbone, num_classes=len(train_set.classes), min_size=size, max_size=size,
        score_thresh=post["score_thresh"], nms_thresh=post["nms_thresh"],
        detections_per_img=post["detections_per_img"], topk_candidates=post["topk_candidates"],
    )  # fmt: skip
    for head in (model.head.classification_head, model.head.regression_head):
        head.conv = head.conv[:6]  # 2 x (conv, GroupNorm, ReLU): the 2-conv head
    opt_cfg = cfg["optimizer"]
    # Same parameter groups as the config's paramwise {norm,bias}_decay_mult: 0 (no weight
    # decay on biases and norm weights, i.e. on every 1-d parameter).
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": opt_cfg["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if opt_cfg["type"] == "SGD":
        optimizer = torch.optim.SGD(groups, lr=opt_cfg["lr"], momentum=opt_cfg["momentum"])
    elif opt_cfg["type"] == "AdamW":
        optimizer = torch.optim.AdamW(groups, lr=opt_cfg["lr"], fused=opt_cfg.get("fused"))
    else:
        raise SystemExit(f"the reference knows SGD and AdamW, not {opt_cfg['type']}")
    max_iters = cfg["train"]["max_iters"]
    warm = cfg["param_schedulers"][0]

    def lr_at(it: int) -> float:
        factor = 0.5 * (1 + math.cos(math.pi * it / max_iters))
        if it < warm["end"]:
            s = warm["start_factor"]
            factor *= s + (1 - s) * it / warm["end"]
        return opt_cfg["lr"] * factor

    loader = torch.utils.data.DataLoader(
        train_set, batch_size=train_cfg["batch_size"], shuffle=True,
        num_workers=train_cfg["num_workers"], collate_fn=detection_collate,
        persistent_workers=train_cfg["num_workers"] > 0,
    )  # fmt: skip
    val_interval = cfg["train"].get("val_interval") or max_iters
    val_loader = torch.utils.data.DataLoader(
        val_set, batch_size=val_cfg["batch_size"], collate_fn=detection_collate
    )

    def evaluate() -> dict:
        model.eval()
        metric = CocoMetric(classes=val_set.classes)
        with torch.inference_mode():
            for images, targets in val_loader:
                metric.update(model(list(images)), targets)
        model.train()
        return metric.compute()

    it, eval_s = 0, 0.0
    model.train()
    loop_start = time.perf_counter()
    timeline = []  # (iteration, training seconds so far), every log_interval iterations
    log_every = cfg["train"].get("log_interval") or 20
    while it < max_iters:
        for images, targets in loader:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(it)
            targets = [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets]
            losses = model(list(images), targets)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_grad"]["max_norm"])
            optimizer.step()
            it += 1
            if it % log_every == 0 or it == max_iters:
                timeline.append((it, time.perf_counter() - loop_start - eval_s))
            if it == max_iters:
                break
            if it % val_interval == 0:  # the same mid-run evaluations as detplug's
                t = time.perf_counter()
                evaluate()
                eval_s += time.perf_counter() - t
    train_s = time.perf_counter() - loop_start - eval_s
    result = evaluate()
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "train_s": train_s,
        "eval_s": eval_s,
        "mAP": result["mAP"],
        "AP50": result["AP50"],
        "timeline": timeline,
    }


def run_reference_fresh(overrides: list[str]) -> dict:
    """:func:`run_reference` in a fresh Python process, as detplug's side runs: neither
    side inherits warm caches (oneDNN's kernels, imported modules, the allocator) from the
    runs before it."""
    out = subprocess.run(
        [sys.executable, __file__, "--reference-child", *overrides],
        check=True, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default=str(ROOT / "work_dirs" / "bench_main_job"))
    parser.add_argument("--reference", action="store_true", help="also run torchvision's FCOS")
    parser.add_argument("--pairs", type=int, default=1, help="alternated runs of both sides")
    parser.add_argument("--reference-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="config overrides for both runs")
    args = parser.parse_args()
    if args.reference_child:
        from detplug_core.config import load_config

        print(json.dumps(run_reference(load_config(CONFIG, args.overrides))))
        return
    ratios = []
    for pair in range(args.pairs):
        # Alternate which side runs first, so a drift of the machine's speed within a
        # pair favours neither.
        sides = ["detplug", "torchvision"] if pair % 2 == 0 else ["torchvision", "detplug"]
        if not args.reference:
            sides = ["detplug"]
        results = {}
        for side in sides:
            if side == "detplug":
                results[side] = run_detplug(Path(args.work_dir), args.overrides)
            else:
                results[side] = run_reference_fresh(args.overrides)
            report(f"{side} #{pair + 1}", results[side])
        if not args.reference:
            continue
        ours, ref = results["detplug"], results["torchvision"]
        ratios.append(ours["train_s"] / ref["train_s"])
        compare_timelines(ours["timeline"], ref["timeline"])
        print(
            f"ratio detplug/torchvision: training {ratios[-1]:.3f}, "
            f"wall {ours['wall_s'] / ref['wall_s']:.3f}, "
            f"mAP {ours['mAP'] / max(ref['mAP'], 1e-9):.3f}"
        )
    if ratios:
        import statistics

        print(f"median training ratio over {len(ratios)} pair(s): {statistics.median(ratios):.3f}")


def report(name: str, result: dict) -> None:
    print(
        f"{name:15s} training {result['train_s']:.1f} s  (evaluation {result['eval_s']:.1f} s "
        f"excluded)  wall {result['wall_s']:.1f} s  "
        f"mAP {result['mAP']:.4f}  AP50 {result['AP50']:.4f}"
    )


if __name__ == "__main__":
    main()
