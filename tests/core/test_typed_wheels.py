"""Every distribution's wheel carries ``py.typed`` (PEP 561), so a type checker reads the
annotations of ``from detplug_core import RunnerView`` instead of treating it as ``Any``."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DISTRIBUTIONS = [ROOT, *sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))]

pytestmark = pytest.mark.slow


def _package(source: Path) -> str:
    (package,) = (p.parent.name for p in source.glob("detplug_*/__init__.py"))
    return package


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every distribution of the checkout built as a wheel, in one pip call."""
    out = tmp_path_factory.mktemp("wheels")
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(out), *map(str, DISTRIBUTIONS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.parametrize("source", DISTRIBUTIONS, ids=lambda p: p.name)
def test_wheel_ships_py_typed(source: Path, wheels: Path) -> None:
    package = _package(source)
    (wheel,) = wheels.glob(f"{package}-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert f"{package}/py.typed" in zf.namelist()
