"""Core components registered into the root registries (filled in by the Runner work)."""
