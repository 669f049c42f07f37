"""Dataset (being written)."""
