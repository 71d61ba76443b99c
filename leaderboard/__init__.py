"""Results: ingestion, validation, store, ranking, plots, the submit and moderate services, and the tabs.

Imports the benchmark package only (never a model library).
"""
