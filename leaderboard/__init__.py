"""Results: submission schema, ingestion, store, ranking and plots."""
