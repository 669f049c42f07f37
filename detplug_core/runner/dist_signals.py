"""Every rank stops at the same iteration when a signal arrives.

The launcher (or torchrun, or a scheduler) signals each rank separately, and a rank may see
its signal one iteration later than another: that one would enter the next iteration's
gradient all-reduce while the other saves and leaves, and both would hang. So after each
training iteration (and after each evaluation pass) the ranks take the maximum of their
received signals: all of them see the signal at the same point, rank 0 saves, all stop.
One small all-reduce per iteration, only when training is distributed.

The signal handler only sets ``Runner.signal_pending``; ``Runner.signal_received``, which
the loop and the hooks decide on, changes only here (``Runner.agree_signals``). A handler
that set the decided value itself would let a rank skip a validation or leave the loop one
iteration before another (the handler runs between any two bytecodes, even between the
agreement and its assignment), and the ranks' collectives would no longer pair up.
"""

from __future__ import annotations

import torch

from detplug_core.runner import dist


def agree_on_signal(signum: int, device: torch.device) -> int:
    """The signal any rank received (0 if none); ``signum`` itself for one process."""
    if not dist.is_active():
        return signum
    import torch.distributed as tdist

    where = device if device.type == "cuda" else torch.device("cpu")
    flag = torch.tensor([int(signum)], dtype=torch.int64, device=where)
    tdist.all_reduce(flag, op=tdist.ReduceOp.MAX)
    return int(flag.item())
