"""The first-party catalogue names only distributions that exist in this repository, each
with the component names it really registers."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from detplug_core.plugins.catalog import CATALOG
from detplug_core.registry import DATASETS, HOOKS, METRICS, MODELS, SAMPLERS

PLUGINS = Path(__file__).parents[2] / "plugins"


def distributions() -> dict[str, Path]:
    found = {}
    for pyproject in PLUGINS.glob("*/pyproject.toml"):
        found[tomllib.loads(pyproject.read_text())["project"]["name"]] = pyproject.parent
    return found


def test_every_catalogued_distribution_exists():
    assert set(CATALOG) <= set(distributions())


@pytest.mark.parametrize("dist", sorted(CATALOG))
def test_catalogued_names_are_registered_by_that_distribution(dist):
    for name in CATALOG[dist]:
        matches = []
        for registry in (MODELS, DATASETS, METRICS, HOOKS, SAMPLERS):
            try:
                matches.append(registry.get(name))
            except KeyError:
                continue
        assert matches, f"{dist}: {name} is not registered"
        module = matches[0].__module__.split(".")[0]
        assert module == dist.replace("-", "_"), (dist, name, module)
