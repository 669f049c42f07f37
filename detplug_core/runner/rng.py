"""Seeding and saving/restoring every random number generator the runner uses.

States are stored as tensors and plain Python values so that a checkpoint loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(enabled: bool) -> None:
    """``deterministic: true``: ask torch (and cuDNN/cuBLAS) for deterministic kernels;
    warn where none exists. This changes process-wide settings, as the user asked; with
    ``false`` (the default) nothing is touched."""
    if not enabled or torch.are_deterministic_algorithms_enabled():
        return
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition
    private = getattr(torch._C, "_set_deterministic_algorithms", None)
    if "torch._inductor.config" in sys.modules or private is None:
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    # torch.use_deterministic_algorithms imports torch._inductor (1.9 s of start-up on a
    # 2-core CPU, measured) only to set its `deterministic` option, which reads this
    # variable when it is first imported; the flag itself is the same call.
    os.environ.setdefault("TORCHINDUCTOR_DETERMINISTIC", "1")
    private(True, warn_only=True)


def get_rng_state() -> dict[str, Any]:
    """Every generator's state, checkpoint-safe."""
    version, mt_state, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": [version, list(mt_state), gauss],
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
