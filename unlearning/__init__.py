"""Fine-tuning and the unlearning baselines (GA, GradDiff, KL, NPO); may use the benchmark, backend and probes."""
