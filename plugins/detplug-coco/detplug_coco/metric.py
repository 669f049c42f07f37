"""Metric (being written)."""
