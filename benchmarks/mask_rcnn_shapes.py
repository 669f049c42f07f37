"""The Mask R-CNN shapes recipe's curve: box and mask COCO mAP against training time.

Runs ``detplug train mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml`` in a fresh work dir (or,
with ``--no-train``, reads a finished one) and prints, per validation: the iteration, the
seconds from the run's "training from iteration 0" log line to the start of that
validation (every earlier iteration, validation and checkpoint included), the validation's
own seconds, box mAP (``coco/mAP``) and mask mAP (``coco/segm_mAP``); then the training
time (start to the last iteration's log line) and the whole command's wall time. Writes
the same to ``<work-dir>/mask_rcnn_shapes.json``. Quality is deterministic on a CPU; times
depend on the machine and its load (``os.getloadavg`` is printed before and after).

Run:  python benchmarks/mask_rcnn_shapes.py [--work-dir work_dirs/mask_rcnn_shapes]
          [--no-train] [OVERRIDES...]
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
import time
from pathlib import Path

CONFIG = "mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml"


def _stamp(line: str) -> datetime.datetime:
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def curve(work_dir: Path) -> dict:
    """Per validation: iteration, seconds into training at its start, its own seconds, box
    and mask mAP; and the training time to the last iteration's log line."""
    lines = [x for x in (work_dir / "log.txt").read_text().splitlines() if x[:4].isdigit()]
    start = next(_stamp(x) for x in lines if "training from iteration" in x)
    val_at = {
        int(m.group(1)): (_stamp(x) - start).total_seconds()
        for x in lines
        if (m := re.search(r"Iter\(val\) \[(\d+)\]", x))
    }
    last = [x for x in lines if re.search(r"Iter \[(\d+)/\1\]", x)]
    rows = []
    for text in (work_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(text)
        if rec.get("mode") != "val" or rec["iter"] not in val_at:
            continue
        seconds = val_at[rec["iter"]] - rec["eval_time"]
        rows.append(
            {
                "iter": rec["iter"],
                "train_s": round(seconds, 1),
                "eval_s": round(rec["eval_time"], 1),
                "box_mAP": round(rec["coco/mAP"], 4),
                "mask_mAP": round(rec["coco/segm_mAP"], 4),
            }
        )
    training = (_stamp(last[-1]) - start).total_seconds() if last else None
    return {"validations": rows, "training_s": training}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("work_dirs/mask_rcnn_shapes"))
    parser.add_argument("--no-train", action="store_true", help="read a finished work dir")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE overrides for detplug train")
    args = parser.parse_args()
    result: dict = {"load_before": os.getloadavg()}
    if not args.no_train:
        shutil.rmtree(args.work_dir, ignore_errors=True)
        command = [sys.executable, "-m", "detplug_core.cli.main", "train", CONFIG,
                   *args.overrides, "--work-dir", str(args.work_dir)]  # fmt: skip
        begin = time.perf_counter()
        subprocess.run(command, check=True, env={**os.environ, "DETPLUG_PROGRESS": "lines"})
        result["wall_s"] = round(time.perf_counter() - begin, 1)
    result["load_after"] = os.getloadavg()
    result.update(curve(args.work_dir))
    print(f"load average before {result['load_before']}, after {result['load_after']}")
    print(
        f"{'iteration':>9} {'train s':>8} {'min':>5} {'eval s':>7} {'box mAP':>8} {'mask mAP':>9}"
    )
    for row in result["validations"]:
        print(
            f"{row['iter']:>9} {row['train_s']:>8.1f} {row['train_s'] / 60:>5.2f} "
            f"{row['eval_s']:>7.1f} {row['box_mAP']:>8.4f} {row['mask_mAP']:>9.4f}"
        )
    print(f"training {result['training_s']:.1f} s (to the last iteration, validations before it "
          f"included), command wall {result.get('wall_s', float('nan')):.1f} s")  # fmt: skip
    (args.work_dir / "mask_rcnn_shapes.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
