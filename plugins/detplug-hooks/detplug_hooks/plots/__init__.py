"""Plots written by detplug-hooks (matplotlib, Agg backend): one module per picture."""
