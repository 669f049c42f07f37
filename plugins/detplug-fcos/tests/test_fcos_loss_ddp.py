"""FCOSLoss under DDP (2 gloo processes on CPU): the normaliser is the mean number of
positives over ranks, so the ranks' losses average to the one-process loss of the whole
batch (with per-rank normalisers they differ whenever the ranks' positives differ)."""

from __future__ import annotations

import pytest
import torch.multiprocessing as mp
from detplug_fcos.losses import FCOSLoss
from fcos_ddp_worker import batch, rank_loss

pytestmark = pytest.mark.slow


def test_rank_losses_average_to_the_one_process_loss(tmp_path):
    manager = mp.Manager()
    out = manager.dict()
    mp.spawn(rank_loss, args=(f"file://{tmp_path / 'store'}", out), nprocs=2, join=True)
    single = FCOSLoss()(*batch())
    expected = [single[k].item() for k in sorted(single)]
    assert out["mean"] == pytest.approx(expected, rel=1e-5)
