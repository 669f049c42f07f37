"""Helpers for testing detplug plugins (also available as pytest fixtures, see below)."""

from detplug_core.testing.isolation import PluginSandbox, registry_snapshot

__all__ = ["PluginSandbox", "registry_snapshot"]
