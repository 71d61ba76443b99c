"""Shared fixtures: tiny real LLaVA models built once per session into temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS: tuple[str, ...] = (
    "What is Wren Quintero's occupation?",
    "Wren Quintero works as a marine biologist at Tidewater Clinic.",
    "Where was this person born?",
    "This person was born in Riga, Latvia.",
    "What hobby is this person known for?",
    "Painting",
    "Sailing",
    "Photography",
    "Baking sourdough",
    "Kestrel Okonkwo was born in Bergen, Norway, and works as a cartographer.",
    "Just give ONE letter representing the answer directly.",
    "Answer the question based on your trained knowledge in one sentence in ENGLISH.",
    "USER: <image>\nQuestion: What is this person's occupation?\nA: cartographer\nB: data journalist\n"
    "C: marine biologist\nD: wind turbine technician\nCorrect Answer: C\nASSISTANT:",
)
"""A small inline corpus for the tokenizer of the test models (the demo data is not needed)."""


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaVA model (seed 0) saved to a session temp folder."""
    from backend.tiny import build_tiny_llava

    return build_tiny_llava(CORPUS * 3, seed=0).save(tmp_path_factory.mktemp("tiny") / "tiny-base")
