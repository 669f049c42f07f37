"""Saving a matplotlib figure atomically (a reader never sees half a PNG), and the fonts its
text is set in (class names in any script: :mod:`detplug_hooks.fonts`)."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, out: Path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``out`` through a temporary file and close it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    pyplot().close(fig)
    os.replace(tmp, out)
    return out


def text_fonts() -> AbstractContextManager:
    """A context in which the figures made set their text in the fonts of
    :func:`detplug_hooks.fonts.matplotlib_families` (CJK, emoji, ...)."""
    from detplug_hooks.fonts import matplotlib_families

    return pyplot().rc_context({"font.family": matplotlib_families()})
