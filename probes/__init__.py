"""The benchmark itself: data, prompts, answer extraction, metrics, runner and probe."""
