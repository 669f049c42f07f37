"""RTMDet-tiny against FCOS-R18 on the main job's data: time to quality, and latency.

Training: each recipe is run with `detplug train` (a fresh work dir each), both evaluated
every ``--eval-every`` iterations (the same N for both) by the same COCO metric on the
shapes val split. "Training seconds" at an evaluation are measured as benchmarks/main_job.py
measures them: from the run's "training from iteration" line to that iteration's log line,
minus the seconds of the evaluations before it (``eval_time`` in metrics.jsonl); checkpoint
writes count. From the curves: the training seconds each detector needs to reach COCO mAP
0.75 and (separately) AP50 0.95, and RTMDet's best mAP within ``--budget-s`` training
seconds (FCOS's 5 minutes). ``--lr-scales 0.5,2`` reruns RTMDet with its lr scaled and
prints each final mAP against the recipe's.

Latency: both detectors in eval mode on the CPU, eager, batch 1, random uint8 images of
320 and 640 px through ``DeployModel`` (normalise, pad, network, post-processing), median
of ``--latency-iters`` calls (``detplug benchmark``'s timing code).

The parts run separately: ``--skip-fcos``, ``--skip-rtmdet``, ``--skip-latency``,
``--latency-only``; ``--fcos-json``/``--rtmdet-json`` reuse a curve saved earlier (each run
writes ``curve.json`` into its work dir), ``--more-json NAME=PATH`` adds further saved
curves, and ``--plot PNG`` draws mAP against training seconds for all of them. On a machine
shared with other processes, compare speeds only within one invocation.

Run:  python benchmarks/rtmdet_vs_fcos.py [--eval-every 50] [--lr-scales 0.5,2]
      python benchmarks/rtmdet_vs_fcos.py --latency-only --threads 2
      python benchmarks/rtmdet_vs_fcos.py --fcos-json A/curve.json --rtmdet-json B/curve.json \
          --more-json rtmdet_bf16=C/curve.json --skip-latency --plot curves.png
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FCOS = "fcos::fcos_r18_fpn_shapes.yaml"
RTMDET = "rtmdet::rtmdet_tiny_shapes.yaml"
STAMP = "%Y-%m-%d %H:%M:%S,%f"


def train_curve(config: str, work_dir: Path, eval_every: int, overrides: list[str]) -> dict:
    """Run one recipe; its evaluations as ``[{iter, train_s, mAP, AP50}]``."""
    shutil.rmtree(work_dir, ignore_errors=True)
    args = [
        "train", config, f"train.val_interval={eval_every}", f"train.log_interval={eval_every}",
        *overrides, "--work-dir", str(work_dir),
    ]  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", *args],
        check=True, env={**os.environ, "DETPLUG_PROGRESS": "lines"},
    )  # fmt: skip
    return read_curve(work_dir, config, overrides)


def read_curve(work_dir: Path, config: str, overrides: list[str]) -> dict:
    """The evaluations of a finished run in ``work_dir`` as a curve (also saved there)."""
    evals = [json.loads(x) for x in (work_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [e for e in evals if e.get("mode", "val") == "val"]
    start, iter_stamps, val_stamps = None, {}, {}
    for line in (work_dir / "log.txt").read_text().splitlines():
        if start is None and "training from iteration" in line:
            start = datetime.datetime.strptime(line[:23], STAMP)
        match = re.search(r"Iter \[(\d+)/\d+\]", line)
        if match:
            iter_stamps[int(match.group(1))] = datetime.datetime.strptime(line[:23], STAMP)
        match = re.search(r"Iter\(val\) \[(\d+)\]", line)
        if match:
            val_stamps[int(match.group(1))] = datetime.datetime.strptime(line[:23], STAMP)
    points, eval_s = [], 0.0
    for e in sorted(evals, key=lambda e: e["iter"]):
        if e["iter"] in iter_stamps:
            span = (iter_stamps[e["iter"]] - start).total_seconds()
        else:  # the last iteration, off the log interval: its evaluation's line, less it
            span = (val_stamps[e["iter"]] - start).total_seconds() - e.get("eval_time", 0.0)
        points.append(
            {"iter": e["iter"], "train_s": span - eval_s, "mAP": e["coco/mAP"],
             "AP50": e["coco/AP50"]}
        )  # fmt: skip
        eval_s += e.get("eval_time", 0.0)
    curve = {"config": config, "overrides": overrides, "points": points}
    (work_dir / "curve.json").write_text(json.dumps(curve, indent=1))
    return curve


def time_to(curve: dict, key: str, target: float) -> float | None:
    """Training seconds at the first evaluation with ``key >= target`` (None: never)."""
    return next((p["train_s"] for p in curve["points"] if p[key] >= target), None)


def best_within(curve: dict, budget_s: float) -> dict | None:
    inside = [p for p in curve["points"] if p["train_s"] <= budget_s]
    return max(inside, key=lambda p: p["mAP"]) if inside else None


def show_curve(name: str, curve: dict) -> None:
    print(f"\n{name} ({curve['config']} {' '.join(curve['overrides'])})")
    print(f"{'iter':>6} {'train s':>9} {'mAP':>7} {'AP50':>7}")
    for p in curve["points"]:
        print(f"{p['iter']:>6} {p['train_s']:>9.1f} {p['mAP']:>7.3f} {p['AP50']:>7.3f}")


def fmt_s(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f} s"


def compare(curves: dict, targets: tuple[float, float], budget_s: float) -> None:
    print(
        f"\n{'detector':<10} {'to mAP ' + str(targets[0]):>14} {'to AP50 ' + str(targets[1]):>15}"
    )
    for name, curve in curves.items():
        to_map, to_ap50 = time_to(curve, "mAP", targets[0]), time_to(curve, "AP50", targets[1])
        print(f"{name:<10} {fmt_s(to_map):>14} {fmt_s(to_ap50):>15}")
    if "fcos" in curves and "rtmdet" in curves:
        a, b = (
            time_to(curves["rtmdet"], "mAP", targets[0]),
            time_to(curves["fcos"], "mAP", targets[0]),
        )
        if a is not None and b is not None:
            print(f"RTMDet / FCOS time to mAP {targets[0]}: {a / b:.2f} (goal <= 0.5)")
    if "rtmdet" in curves:
        best = best_within(curves["rtmdet"], budget_s)
        last = curves["rtmdet"]["points"][-1]
        if best is not None:
            print(
                f"RTMDet best mAP within {budget_s:.0f} training s: {best['mAP']:.3f} "
                f"(iter {best['iter']}, {best['train_s']:.1f} s; goal >= 0.85)"
            )
        if last["train_s"] < budget_s:
            print(f"  (its run ended at {last['train_s']:.1f} s: its last point)")


def plot(curves: dict[str, dict], targets: tuple[float, float], path: Path) -> None:
    """mAP against training seconds, one line per curve, the mAP target dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, curve in curves.items():
        label = f"{name} ({' '.join(curve['overrides'])})" if curve["overrides"] else name
        xs = [0.0] + [p["train_s"] for p in curve["points"]]
        ax.plot(xs, [0.0] + [p["mAP"] for p in curve["points"]], marker=".", label=label)
    ax.axhline(targets[0], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("training seconds (evaluation excluded)")
    ax.set_ylabel("COCO mAP (shapes val)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


def latency(sizes: list[int], iters: int, num_classes: int) -> None:
    import torch
    from detplug_torchvision.deploy.benchmark import machine, run_benchmark
    from detplug_torchvision.deploy.model import DeployModel

    from detplug_core import MODELS
    from detplug_core.config import load_config

    device = torch.device("cpu")
    print(f"\nlatency, eager, batch 1, {num_classes} classes; {machine(device)}")
    print(f"{'model':<10} " + " ".join(f"{str(s) + ' px ms':>11}" for s in sizes))
    rows = {}
    for name, config, head in (
        ("fcos_r18", FCOS, "head"),
        ("rtmdet_t", RTMDET, "head"),
    ):
        cfg = load_config(config)["model"]
        cfg[head]["num_classes"] = num_classes
        torch.manual_seed(0)
        model = DeployModel(MODELS.build(cfg))
        rows[name] = [
            run_benchmark(model, ["eager"], (s, s), 1, device, 3, iters)[0].p50_ms for s in sizes
        ]
        print(f"{name:<10} " + " ".join(f"{ms:>11.1f}" for ms in rows[name]))
    ratio = " ".join(
        f"{f / r:>11.2f}" for f, r in zip(rows["fcos_r18"], rows["rtmdet_t"], strict=True)
    )
    print(f"{'FCOS/RTM':<10} {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default=str(ROOT / "work_dirs" / "bench_rtmdet_vs_fcos"))
    parser.add_argument("--eval-every", type=int, default=50, help="the same N for both")
    parser.add_argument("--budget-s", type=float, default=300.0, help="FCOS's 5 minutes")
    parser.add_argument("--targets", default="0.75,0.95", help="mAP, AP50")
    parser.add_argument("--lr-scales", default="", help="e.g. 0.5,2: RTMDet lr robustness")
    parser.add_argument("--skip-fcos", action="store_true")
    parser.add_argument("--skip-rtmdet", action="store_true")
    parser.add_argument("--fcos-json", help="a saved curve.json instead of training FCOS")
    parser.add_argument("--rtmdet-json", help="a saved curve.json instead of training RTMDet")
    parser.add_argument("--fcos-overrides", nargs="*", default=[])
    parser.add_argument("--rtmdet-overrides", nargs="*", default=[])
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--latency-sizes", default="320,640")
    parser.add_argument("--latency-iters", type=int, default=20)
    parser.add_argument("--latency-classes", type=int, default=80)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for latency")
    parser.add_argument("--plot", help="write mAP against training seconds to this PNG")
    parser.add_argument(
        "--more-json", nargs="*", default=[], metavar="NAME=PATH",
        help="further saved curves (e.g. an RTMDet run with other overrides) to show and plot",
    )  # fmt: skip
    args = parser.parse_args()
    targets = tuple(float(x) for x in args.targets.split(","))
    work = Path(args.work_dir)
    curves: dict[str, dict] = {}
    if not args.latency_only:
        if args.fcos_json:
            curves["fcos"] = json.loads(Path(args.fcos_json).read_text())
        elif not args.skip_fcos:
            curves["fcos"] = train_curve(FCOS, work / "fcos", args.eval_every, args.fcos_overrides)
        if args.rtmdet_json:
            curves["rtmdet"] = json.loads(Path(args.rtmdet_json).read_text())
        elif not args.skip_rtmdet:
            curves["rtmdet"] = train_curve(
                RTMDET, work / "rtmdet", args.eval_every, args.rtmdet_overrides
            )
        for item in args.more_json:
            name, _, path = item.partition("=")
            curves[name] = json.loads(Path(path).read_text())
        for name, curve in curves.items():
            show_curve(name, curve)
        if curves:
            compare(curves, targets, args.budget_s)
        if args.plot and curves:
            plot(curves, targets, Path(args.plot))
        if args.lr_scales:
            from detplug_core.config import load_config

            base_lr = float(load_config(RTMDET)["optimizer"]["lr"])
            base = curves.get("rtmdet")
            print(f"\nRTMDet lr robustness (recipe lr {base_lr:g}):")
            if base is not None:
                print(f"  x1: final mAP {base['points'][-1]['mAP']:.3f}")
            for scale in (float(s) for s in args.lr_scales.split(",")):
                over = [*args.rtmdet_overrides, f"optimizer.lr={base_lr * scale:g}"]
                curve = train_curve(RTMDET, work / f"rtmdet_lr{scale:g}", args.eval_every, over)
                final = curve["points"][-1]["mAP"]
                diff = f" ({final - base['points'][-1]['mAP']:+.3f})" if base else ""
                print(f"  x{scale:g}: final mAP {final:.3f}{diff}  (goal: within 0.03)")
    if args.latency_only or not args.skip_latency:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        sizes = [int(s) for s in args.latency_sizes.split(",")]
        latency(sizes, args.latency_iters, args.latency_classes)


if __name__ == "__main__":
    main()
