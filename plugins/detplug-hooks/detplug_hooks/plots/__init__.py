"""Pictures drawn from a run's data and evaluations (matplotlib, Agg backend)."""
