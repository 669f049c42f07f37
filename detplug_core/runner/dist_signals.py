"""Every rank stops at the same iteration when a signal arrives.

The launcher (or torchrun, or a scheduler) signals each rank separately, and a rank may see
its signal one iteration later than another: that one would enter the next iteration's
gradient all-reduce while the other saves and leaves, and both would hang. So once per
training iteration (after its hooks, where the loop decides whether to go on) and at the
end of each evaluation pass the ranks take the maximum of their received signals: all of
them see the signal at the same point, rank 0 saves, all stop. One small all-reduce per
iteration, only when training is distributed. A signal that arrives during the step or the
hooks ends the run after that iteration; a validation due in it starts, stops after its
first batch (the pass checks this rank's own signal) and stays due for the resumed run.

The signal handler only sets :attr:`RunSignals.pending`; :attr:`RunSignals.received`, which
the loop and the hooks decide on, changes only in :meth:`RunSignals.agree`. A handler that
set the decided value itself would let a rank skip a validation or leave the loop one
iteration before another (the handler runs between any two bytecodes, even between the
agreement and its assignment), and the ranks' collectives would no longer pair up.
"""

from __future__ import annotations

import torch

from detplug_core import dist


def agree_on_signal(signum: int, device: torch.device) -> int:
    """The signal any rank received (0 if none); ``signum`` itself for one process."""
    if not dist.is_active():
        return signum
    import torch.distributed as tdist

    where = device if device.type == "cuda" else torch.device("cpu")
    flag = torch.tensor([int(signum)], dtype=torch.int64, device=where)
    tdist.all_reduce(flag, op=tdist.ReduceOp.MAX)
    return int(flag.item())


class RunSignals:
    """The signals of one run: ``pending`` (this rank's, set by the handler at any moment)
    and ``received`` (agreed by every rank; what decisions are taken on)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.pending = 0
        self.received = 0

    def on_signal(self, signum: int) -> None:
        """The handler's whole job: remember the signal (see the module docstring)."""
        self.pending = signum

    def agree(self) -> int:
        """Every rank learns the signals any rank received; returns the agreed one."""
        self.received = agree_on_signal(self.received or self.pending, self.device)
        return self.received
