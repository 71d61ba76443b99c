"""Fixtures: the demo benchmark and a tiny random LLaVA whose tokenizer knows the demo text."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def bench():
    from benchmark.reader import load_benchmark

    return load_benchmark("demo")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, bench) -> Path:
    """A random tiny LLaVA (demo/tiny.py, seed 0) saved to a session temp folder."""
    from demo.tiny import benchmark_corpus, build_tiny_llava

    return build_tiny_llava(benchmark_corpus(bench), seed=0).save(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture()
def tiny(tiny_dir: Path):
    """A fresh (model, processor) pair loaded from ``tiny_dir``."""
    from unlearning.checkpoint import load_for_training

    return load_for_training(tiny_dir)
