"""Parameter and FLOP counts of a model, as the RTMDet paper reports them."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Number of parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_gflops(model: nn.Module, size: int = 640) -> float:
    """GFLOPs of the network (backbone, neck, head; no pre/post-processing) on one
    ``size`` x ``size`` image, counting one multiply-accumulate as one FLOP like the paper,
    fvcore and MMEngine: ``torch.utils.flop_counter`` counts two, so its total is halved.
    Only convolutions and matrix products are counted (norms, activations, pooling and
    upsampling are not), as fvcore does by default."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        model.head(list(model.neck(model.backbone(x)).values()))
    model.train(was_training)
    return counter.get_total_flops() / 2 / 1e9
