"""The ``DETPLUG_*`` switches: one reader (detplug_core/env.py), so every on/off switch
reads ``0``/``false``/``no``/``off`` the same way, wherever it is used."""

from __future__ import annotations

import pytest

from detplug_core.env import env_choice, env_flag, env_names, env_selection


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, True), ("", True), ("0", False), ("false", False), ("OFF", False), ("no", False),
     ("1", True), ("yes", True), ("anything", True)],
)  # fmt: skip
def test_a_flag_reads_the_same_words_everywhere(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("DETPLUG_X", raising=False)
    else:
        monkeypatch.setenv("DETPLUG_X", value)
    assert env_flag("DETPLUG_X", True) is expected


def test_names_and_selections(monkeypatch):
    monkeypatch.setenv("DETPLUG_X", " a, b ,,")
    assert env_names("DETPLUG_X") == {"a", "b"} == env_selection("DETPLUG_X")
    for off in ("", "0", "off"):
        monkeypatch.setenv("DETPLUG_X", off)
        assert env_selection("DETPLUG_X") is None
    monkeypatch.setenv("DETPLUG_X", "on")
    assert env_selection("DETPLUG_X") == {"*"}
    monkeypatch.setenv("DETPLUG_X", " Lines ")
    assert env_choice("DETPLUG_X", ("bar", "lines")) == "lines"
    monkeypatch.setenv("DETPLUG_X", "fast")
    assert env_choice("DETPLUG_X", ("bar", "lines")) is None


def test_hook_tracing_parses_like_every_other_switch(monkeypatch):
    """Before one reader, ``DETPLUG_TRACE_HOOKS=on`` traced a stage named 'on' (and
    ``DETPLUG_OFFLINE=false`` meant offline)."""
    from detplug_core.hookspecs import RUNNER_STAGES
    from detplug_core.runner.hook_dispatch import _traced_stages

    monkeypatch.setenv("DETPLUG_TRACE_HOOKS", "on")
    assert _traced_stages() == set(RUNNER_STAGES)
    monkeypatch.setenv("DETPLUG_TRACE_HOOKS", "no")
    assert _traced_stages() is None
