"""What each process of test_fcos_loss_ddp.py runs: a module of its own, importable by this
name in the spawned processes (they get the parent's sys.path, where conftest.py puts this
folder; the test module itself is named after pytest's rootdir and may not import there)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from detplug_fcos.losses import FCOSLoss


def batch() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    n, a, c = 4, 30, 3
    points = torch.rand(a, 2, generator=g) * 60 + 2
    sizes = torch.full((a,), 8.0)
    gt_boxes = torch.cat([points - 5 - torch.rand(a, 2, generator=g), points + 6], 1)
    gt_boxes = gt_boxes.expand(n, -1, -1).clone()
    labels = torch.randint(-1, c, (n, a), generator=g)
    labels[:2, ::2] = -1  # the first rank's images have fewer positives
    return (
        torch.randn(n, a, c, generator=g),
        torch.randn(n, a, 4, generator=g) * 0.1,
        torch.randn(n, a, generator=g),
        points,
        sizes,
        gt_boxes,
        labels,
    )


def rank_loss(rank: int, init: str, out: dict) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        cls, box, ctr, points, sizes, gt, labels = batch()
        part = slice(2 * rank, 2 * rank + 2)
        losses = FCOSLoss()(cls[part], box[part], ctr[part], points, sizes, gt[part], labels[part])
        total = torch.stack([losses[k] for k in sorted(losses)])
        dist.all_reduce(total)
        if rank == 0:
            out["mean"] = (total / 2).tolist()
    finally:
        dist.destroy_process_group()
