"""Where a main-job iteration goes: detplug's loop against a plain loop, same process.

Both train the main job's model (``fcos::fcos_r18_fpn_shapes.yaml``, built by the registry)
on the same batches of its dataset (batch 8), with the same optimizer (``build_optimizer``, AdamW fused), lr
set every iteration and gradient clipping; ``num_workers: 0`` on both sides, so the data
work is in this process and counted alike. detplug runs ``Runner.train()`` with the
config's hooks and the built-in ones (no mid-run evaluation or checkpoint; the final ones
fall outside the timed span). The span of each is from the start of iteration 2 (two
warm-up iterations) to the start of the last one. Each round runs both, the first of them
alternating between rounds; the median of the per-round ratios is printed.

``--profile`` instead runs detplug's loop once under cProfile and prints what the loop,
the hook dispatcher and the data loader call, with their cumulative seconds.

Run:  python benchmarks/loop_profile.py [--iters 22] [--rounds 3] [--threads 1] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import statistics
import tempfile
import time

import torch

from detplug_core import DATASETS, MODELS, Hook
from detplug_core.config import load_config
from detplug_core.data import detection_collate
from detplug_core.data.num_classes import resolve_num_classes
from detplug_core.runner import Runner
from detplug_core.runner.optim import build_optimizer

CONFIG = "fcos::fcos_r18_fpn_shapes.yaml"


class Stopwatch(Hook):
    """Start of iteration 2 and of the last iteration."""

    priority = "HIGHEST"

    def before_train_iter(self, runner) -> None:
        now = time.perf_counter()
        if runner.iter == 2:
            self.first = now
        self.last = now


def config(iters: int, work_dir: str) -> dict:
    cfg = load_config(CONFIG)
    for key in ("train_dataloader", "val_dataloader"):
        cfg[key].update(num_workers=0, persistent_workers=False)
    cfg["train"].update(max_iters=iters, val_interval=10**6)
    cfg["checkpoint"]["interval"] = 10**6
    cfg["hooks"] = [*cfg.get("hooks", []), {"type": Stopwatch}]
    cfg["work_dir"] = work_dir
    return cfg


def detplug_loop(iters: int, profile: cProfile.Profile | None = None) -> float:
    with tempfile.TemporaryDirectory() as work:
        torch.manual_seed(0)
        with Runner(config(iters, work), tune_process=True) as runner:  # as `detplug train`
            watch = next(h for h in runner.hooks.hooks if isinstance(h, Stopwatch))
            if profile is not None:
                profile.enable()
            runner.train()
            if profile is not None:
                profile.disable()
    return (watch.last - watch.first) / (iters - 3)


def plain_loop(iters: int) -> float:
    cfg = config(iters, "unused")
    resolve_num_classes(cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg["model"]).train()
    data = DATASETS.build(cfg["train_dataloader"]["dataset"])
    # The order detplug draws for seed 0 (DistributedSampler, as its loader): same batches,
    # hence the same work per iteration (the number of objects varies between batches).
    order = torch.utils.data.DistributedSampler(data, num_replicas=1, rank=0, seed=cfg["seed"])
    loader = torch.utils.data.DataLoader(
        data, batch_size=8, sampler=order, collate_fn=detection_collate
    )
    optimizer = build_optimizer(model, cfg["optimizer"])
    lr, max_norm = cfg["optimizer"]["lr"], cfg["clip_grad"]["max_norm"]
    it, first, last = 0, 0.0, 0.0
    while it < iters:
        for images, targets in loader:
            last = time.perf_counter()
            first = last if it == 2 else first
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * it / iters))
            losses = model(images, targets)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
            it += 1
            if it == iters:
                break
    return (last - first) / (iters - 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=22)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.profile:
        prof = cProfile.Profile()
        print(f"detplug {detplug_loop(args.iters, prof) * 1000:.1f} ms/iter (profiled)")
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).sort_stats("cumulative")
        for pattern in ("_train_epoch", r"hook_dispatch.py.*\(call\)", "dataloader.py.*__next__"):
            stats.print_callees(pattern)
        print(out.getvalue())
        return
    ratios = []
    for r in range(args.rounds):
        if r % 2:  # alternate which goes first, so drift hits both alike
            ours, plain = detplug_loop(args.iters), plain_loop(args.iters)
        else:
            plain, ours = plain_loop(args.iters), detplug_loop(args.iters)
        ratios.append(ours / plain)
        print(f"round {r}: plain {plain * 1000:.1f} ms/iter, detplug {ours * 1000:.1f} ms/iter, "
              f"ratio {ours / plain:.3f}", flush=True)  # fmt: skip
    print(f"median ratio detplug / plain: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
