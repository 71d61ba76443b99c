"""Fine-tuning and the unlearning baselines (GA, GradDiff, KL, NPO)."""
