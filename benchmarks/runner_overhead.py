"""Runner overhead: ``Runner.train()`` against a plain PyTorch loop, measured in the same run.

Both train the same small dense detector (four 3x3 convolutions with BatchNorm, ~25 k
parameters) on the same in-memory dataset (images of 96x128, 1-3 boxes each), batch 8, with
SGD + momentum, on the CPU in this process:

* plain: ``DataLoader(shuffle=True, collate_fn=detection_collate)``; per batch: forward,
  sum of the losses, ``zero_grad``, ``backward``, ``step``;
* runner: the same pieces from a config (``type`` given as the classes below), logging every
  50 iterations to a temporary work dir, no validation, no checkpoints.

The timed span of each is its whole training loop (data loading included), from the first
batch to the last step; for the Runner from ``before_train`` to ``after_train`` (two hook
calls in total; the per-iteration stages stay unimplemented, as in a run without
per-iteration hooks). Time is this process's CPU time (``time.process_time``; everything
runs here on ``--threads`` threads, no DataLoader workers): on a shared machine it counts the
work each loop does rather than the time spent waiting for a core; ``--clock wall`` measures
wall time instead. Plain and runner alternate ``--repeat`` times so that load from other
processes hits both alike; the median of the per-round ratios is reported.

A second measurement trains a one-convolution model on 8x8 images with both loops, in
``3 * --repeat`` alternating pairs: the median of the paired differences is the Runner's
fixed per-iteration work, then expressed as a share of the detector's iteration time.

Run:  python benchmarks/runner_overhead.py [--iters 200] [--repeat 5] [--threads 1] [--clock cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from detplug_core import Hook
from detplug_core.data import detection_collate
from detplug_core.runner import Runner

BATCH = 8
CLOCK = time.process_time  # --clock wall: time.perf_counter


class Images(Dataset):
    """``n`` random images with 1-3 boxes, generated once and kept in memory."""

    classes = ["a", "b", "c"]

    def __init__(self, n: int = 64, size: tuple[int, int] = (96, 128)) -> None:
        g = torch.Generator().manual_seed(0)
        self.items = []
        for _ in range(n):
            k = int(torch.randint(1, 4, (), generator=g))
            xy = torch.rand(k, 2, generator=g) * torch.tensor([size[1] - 40, size[0] - 40])
            boxes = torch.cat([xy, xy + 16 + torch.rand(k, 2, generator=g) * 24], 1)
            labels = torch.randint(0, 3, (k,), generator=g)
            self.items.append(
                (torch.rand(3, *size, generator=g), {"boxes": boxes, "labels": labels})
            )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


class Detector(nn.Module):
    """Stride-4 dense head: per-cell class logits and box deltas, losses as a dict."""

    def __init__(self, num_classes: int = 3, width: int = 32) -> None:
        super().__init__()
        layers, c = [], 3
        for out in (width // 2, width, width, width):
            layers += [
                nn.Conv2d(c, out, 3, stride=2 if out != c else 1, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(),
            ]
            c = out
        self.body = nn.Sequential(*layers)
        self.cls = nn.Conv2d(width, num_classes, 1)
        self.reg = nn.Conv2d(width, 4, 1)

    def forward(self, images, targets=None):
        x = torch.stack(images)
        f = self.body(x)
        logits, deltas = self.cls(f), self.reg(f)
        heat = torch.zeros_like(logits)
        for i, t in enumerate(targets):
            c = ((t["boxes"][:, :2] + t["boxes"][:, 2:]) / 8).long()
            heat[
                i,
                t["labels"],
                c[:, 1].clamp(max=heat.shape[2] - 1),
                c[:, 0].clamp(max=heat.shape[3] - 1),
            ] = 1.0
        return {
            "loss_cls": F.binary_cross_entropy_with_logits(logits, heat),
            "loss_bbox": deltas.abs().mean() * 0.1,
        }


class TinyImages(Images):
    """64 images of 8x8: loading and compute next to nothing."""

    def __init__(self) -> None:
        super().__init__(64, (8, 8))


class Tiny(nn.Module):
    """One 1x1 convolution: what is left to time is the loop itself."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)

    def forward(self, images, targets=None):
        out = self.conv(torch.stack(images))
        return {"loss_a": out.mean(), "loss_b": out.abs().mean()}


def plain_loop(iters: int, model_cls: type = Detector, data_cls: type = Images) -> float:
    torch.manual_seed(0)
    model = model_cls()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = DataLoader(data_cls(), batch_size=BATCH, shuffle=True, collate_fn=detection_collate)
    done, start = 0, CLOCK()
    while done < iters:
        for images, targets in loader:
            losses = model(images, targets)
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == iters:
                break
    return (CLOCK() - start) / iters


class Stopwatch(Hook):
    def before_train(self, runner) -> None:
        self.start = CLOCK()

    def after_train(self, runner) -> None:
        self.elapsed = CLOCK() - self.start


def runner_loop(iters: int, model_cls: type = Detector, data_cls: type = Images) -> float:
    with tempfile.TemporaryDirectory() as work_dir:
        cfg = {
            "model": {"type": model_cls},
            "train_dataloader": {"batch_size": BATCH, "dataset": {"type": data_cls}},
            "optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9},
            "train": {"by_epoch": False, "max_iters": iters, "log_interval": 50},
            "checkpoint": {"interval": 0, "save_last": False},
            "hooks": [{"type": Stopwatch}],
            "work_dir": work_dir,
            "device": "cpu",
            "seed": 0,
        }
        with Runner(cfg, tune_process=True) as runner:  # as `detplug train` runs it
            runner.train()
            watch = next(h for h in runner.hooks.hooks if isinstance(h, Stopwatch))
            return watch.elapsed / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    import logging

    logging.disable(logging.INFO)  # the runner's log lines would interleave with ours
    plain_loop(10), runner_loop(10)  # warm-up: imports, allocator, first-call costs
    plain, ours = [], []
    for r in range(args.repeat):
        plain.append(plain_loop(args.iters))
        ours.append(runner_loop(args.iters))
        print(
            f"round {r + 1}: plain {plain[-1] * 1e3:.2f} ms/iter, "
            f"runner {ours[-1] * 1e3:.2f} ms/iter, ratio {ours[-1] / plain[-1]:.4f}"
        )
    p, o = statistics.median(plain), statistics.median(ours)
    ratio = statistics.median(b / a for a, b in zip(plain, ours, strict=True))
    print(
        f"\n{args.repeat} rounds x {args.iters} iterations, {args.threads} thread(s), "
        f"{args.clock} time:"
    )
    print(f"  plain PyTorch loop  {p * 1e3:8.2f} ms/iter (median)")
    print(f"  detplug Runner      {o * 1e3:8.2f} ms/iter (median)")
    print(f"  ratio runner/plain  {ratio:8.4f}  (median of the rounds' ratios; target <= 1.02)")
    # The loop's own cost, measured where compute and loading cost next to nothing: the
    # median of paired differences is the Runner's fixed per-iteration work.
    diffs = []
    for _ in range(args.repeat * 3):
        a = plain_loop(args.iters * 2, Tiny, TinyImages)
        b = runner_loop(args.iters * 2, Tiny, TinyImages)
        diffs.append(b - a)
    extra = statistics.median(diffs)
    print(
        f"\nnear-empty model, {len(diffs)} paired rounds: the Runner adds {extra * 1e6:.0f} us "
        f"per iteration = {100 * extra / p:.3f} % of the detector's {p * 1e3:.1f} ms iteration"
    )


if __name__ == "__main__":
    main()
