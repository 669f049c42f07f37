"""FCOSLoss under DDP (2 gloo processes on CPU): the normaliser is the mean number of
positives over ranks, so the ranks' losses average to the one-process loss of the whole
batch (with per-rank normalisers they differ whenever the ranks' positives differ)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detplug_fcos.losses import FCOSLoss

pytestmark = pytest.mark.slow


def _batch() -> tuple[torch.Tensor, ...]:
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


def _rank(rank: int, init: str, out: dict) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        cls, box, ctr, points, sizes, gt, labels = _batch()
        part = slice(2 * rank, 2 * rank + 2)
        losses = FCOSLoss()(cls[part], box[part], ctr[part], points, sizes, gt[part], labels[part])
        total = torch.stack([losses[k] for k in sorted(losses)])
        dist.all_reduce(total)
        if rank == 0:
            out["mean"] = (total / 2).tolist()
    finally:
        dist.destroy_process_group()


def test_rank_losses_average_to_the_one_process_loss(tmp_path):
    manager = mp.Manager()
    out = manager.dict()
    mp.spawn(_rank, args=(f"file://{tmp_path / 'store'}", out), nprocs=2, join=True)
    single = FCOSLoss()(*_batch())
    expected = [single[k].item() for k in sorted(single)]
    assert out["mean"] == pytest.approx(expected, rel=1e-5)
