"""pytest fixtures shipped with detplug-core (auto-registered through ``pytest11``).

``detplug_plugin``: a :class:`~detplug_core.testing.PluginSandbox` that registers a plugin
(module or object with ``@hookimpl`` functions, and the components its import registers) for
one test only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from detplug_core.testing.isolation import PluginSandbox


@pytest.fixture
def detplug_plugin() -> Iterator[PluginSandbox]:
    sandbox = PluginSandbox()
    try:
        yield sandbox
    finally:
        sandbox.close()
