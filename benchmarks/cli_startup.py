"""CLI start-up cost, measured against baselines in the same run.

1. ``detplug --help`` and ``detplug --version`` against ``python -c "import click"``:
   median wall time of N fresh processes each; the target is a ratio of at most 1.5.
2. ``detplug plugins`` (loads every installed plugin) against
   ``python -c "import torch, torchvision"`` (what the plugins themselves import): the
   difference is what detplug's loading costs beyond the plugins' own imports.

Run:  python benchmarks/cli_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable


def median_wall(cmd: list[str], repeat: int) -> float:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    script = Path(PY).parent / "detplug"  # the installed console script users run
    detplug = [str(script)] if script.exists() else [PY, "-m", "detplug_core.cli.main"]
    rows = {
        "python -c 'import click'": median_wall([PY, "-c", "import click"], args.repeat),
        "detplug --help": median_wall([*detplug, "--help"], args.repeat),
        "detplug --version": median_wall([*detplug, "--version"], args.repeat),
        "python -c 'import torch, torchvision'": median_wall(
            [PY, "-c", "import torch, torchvision"], max(3, args.repeat // 3)
        ),
        "detplug plugins": median_wall([*detplug, "plugins"], max(3, args.repeat // 3)),
    }
    base = rows["python -c 'import click'"]
    torch_base = rows["python -c 'import torch, torchvision'"]
    print(f"{'command':<40} {'median s':>9} {'ratio':>7}")
    for name, value in rows.items():
        ref = torch_base if name == "detplug plugins" else base
        print(f"{name:<40} {value:9.3f} {value / ref:7.2f}")
    print(
        f"\n--help / import click = {rows['detplug --help'] / base:.2f}x, "
        f"--version / import click = {rows['detplug --version'] / base:.2f}x (target <= 1.5x)"
    )
    print(
        f"detplug plugins - import torch,torchvision = "
        f"{rows['detplug plugins'] - torch_base:+.3f} s "
        f"({rows['detplug plugins'] / torch_base:.2f}x)"
    )


if __name__ == "__main__":
    main()
