"""Fine-tuning across class lists, against the same run from scratch.

1. FCOS (ResNet-18, small FPN) trained on detplug-shapes with its 3 classes (rectangle, ellipse,
   triangle): ``configs/fcos/fcos_r18_fpn_shapes.yaml`` for ``--pretrain-iters`` iterations
   (skipped when ``--pretrained`` names a checkpoint).
2. ``configs/fcos/fcos_r18_fpn_bccd_finetune.yaml`` on BCCD (RBC, WBC, Platelets) twice, same
   recipe and seed: from scratch (``load_from=null``), and with ``load_from`` = step 1's
   checkpoint (``class_map: by_name``). The load report's table is printed.

Prints, per validation, the training time so far (first log line to that validation's log
line: training loop, earlier validations and checkpoints included) and VOC mAP / COCO mAP /
AP50 on BCCD's test split; writes everything to ``<work-dir>/finetune_demo.json``.
Quality numbers are deterministic on a CPU; times depend on the machine and its load.

Run:  python benchmarks/finetune_demo.py [--work-dir work_dirs/bench_finetune]
          [--pretrain-iters 210] [--iters 150] [--data-root ../shared/data/BCCD]
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
SHAPES = ROOT / "configs" / "fcos" / "fcos_r18_fpn_shapes.yaml"
FINETUNE = ROOT / "configs" / "fcos" / "fcos_r18_fpn_bccd_finetune.yaml"


def train(config: Path, work_dir: Path, overrides: list[str]) -> None:
    shutil.rmtree(work_dir, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", "train", str(config), *overrides,
         "--work-dir", str(work_dir)],
        check=True, env={**os.environ, "DETPLUG_PROGRESS": "lines"},
    )  # fmt: skip


def _stamp(line: str) -> datetime.datetime:
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def validations(work_dir: Path) -> list[dict]:
    """Each validation: iteration, seconds since the run's first log line, metrics."""
    lines = [x for x in (work_dir / "log.txt").read_text().splitlines() if x[:4].isdigit()]
    start = _stamp(lines[0])
    at = {
        int(m.group(1)): (_stamp(x) - start).total_seconds()
        for x in lines
        if (m := re.search(r"Iter\(val\) \[(\d+)\]", x))
    }
    rows = []
    for line in (work_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("mode") == "val":
            rows.append(
                {
                    "iter": rec["iter"],
                    "seconds": at.get(rec["iter"]),
                    "voc/mAP": rec.get("voc/mAP"),
                    "coco/mAP": rec.get("coco/mAP"),
                    "coco/AP50": rec.get("coco/AP50"),
                }
            )
    return rows


def load_report(work_dir: Path) -> list[str]:
    """The load_from table from the run's log."""
    text = (work_dir / "log.txt").read_text().splitlines()
    for i, line in enumerate(text):
        if "load_from: loaded" in line:
            out = [line.split("load_from: ", 1)[1]]
            out += [x for x in text[i + 1 :] if x.startswith("  ")][:40]
            return out
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", default="work_dirs/bench_finetune")
    parser.add_argument("--pretrain-iters", type=int, default=210)
    parser.add_argument("--pretrained", help="a shapes checkpoint to start from (skips step 1)")
    parser.add_argument("--iters", type=int, default=150)
    parser.add_argument("--val-interval", type=int, default=50)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "BCCD"))
    args = parser.parse_args()
    work = Path(args.work_dir)
    pretrained = args.pretrained
    if pretrained is None:
        n = args.pretrain_iters
        train(SHAPES, work / "shapes", [f"train.max_iters={n}", f"train.val_interval={n}",
                                        f"checkpoint.interval={n}"])  # fmt: skip
        pretrained = str(work / "shapes" / "latest.pth")
    common = [
        f"data_root={args.data_root}",
        f"train.max_iters={args.iters}",
        f"train.val_interval={args.val_interval}",
        f"checkpoint.interval={args.iters}",
    ]
    train(FINETUNE, work / "scratch", [*common, "load_from=null"])
    train(FINETUNE, work / "finetuned", [*common, f"load_from.path={pretrained}"])
    result = {
        "pretrained": pretrained,
        "scratch": validations(work / "scratch"),
        "finetuned": validations(work / "finetuned"),
        "load_report": load_report(work / "finetuned"),
    }
    (work / "finetune_demo.json").write_text(json.dumps(result, indent=1))
    print("\n".join(result["load_report"]))
    print(f"\n{'run':<10} {'iter':>5} {'time s':>7} {'voc/mAP':>8} {'coco/mAP':>9} {'AP50':>6}")
    for name in ("scratch", "finetuned"):
        for r in result[name]:
            print(
                f"{name:<10} {r['iter']:>5} {r['seconds'] or 0:>7.0f} {r['voc/mAP']:>8.4f} "
                f"{r['coco/mAP']:>9.4f} {r['coco/AP50']:>6.4f}"
            )


if __name__ == "__main__":
    main()
