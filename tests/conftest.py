"""Fixtures every test folder shares: the files under ``tests/fixtures`` (nothing outside the repository)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from benchmark.submission import Cell, Provenance, Submission, SubmissionMetadata
from benchmark.vocabulary import Protocol

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OFFICIAL_FIXTURE = FIXTURES / "official" / "llava_vanilla_forget5_final_evaluation_results.json"

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
def official_fixture() -> Path:
    """The real upstream output file (LLaVA vanilla, forget 5 %, forget set only)."""
    return OFFICIAL_FIXTURE


@pytest.fixture(scope="session")
def official_values(official_fixture: Path) -> dict[str, dict[str, dict[str, float]]]:
    """The fixture's numbers, decoded independently of the code under test."""
    return json.loads(official_fixture.read_text())


@pytest.fixture
def data_dir() -> Path:
    """Folder of the submission files in old and future schema versions."""
    return FIXTURES / "submissions"


def tiny_config():  # type: ignore[no-untyped-def]
    """The test models' shape: defaults, with a larger init so untrained outputs depend on the prompt."""
    from demo.tiny import TinyLlavaConfig

    return TinyLlavaConfig(initializer_range=0.2)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaVA model (seed 0) saved to a session temp folder."""
    from demo.tiny import build_tiny_llava

    return build_tiny_llava(CORPUS * 3, seed=0, config=tiny_config()).save(
        tmp_path_factory.mktemp("tiny") / "tiny-base"
    )


def make_submission(
    *,
    model_name: str = "demo-ga",
    method: str = "GA",
    base_model: str = "llava-hf/llava-1.5-7b-hf",
    forget_ratio: int = 5,
    protocol: Protocol = Protocol.STRICT,
    submitter: str = "tester",
    values: dict[str, float] | None = None,
    **metadata: object,
) -> Submission:
    """A valid submission whose cells are given as ``{"forget/classification/text/accuracy": 40.0, ...}``.

    Without ``values``, two cells whose values depend on the model name (the store refuses equal cells
    as a duplicate, so differently named default submissions must differ).
    """
    offset = zlib.crc32(model_name.encode()) % 1000 / 100
    values = values or {
        "forget/classification/image_text/accuracy": 40.0 + offset,
        "retain/classification/image_text/accuracy": 70.0 + offset,
    }
    cells = []
    for key, value in values.items():
        eval_set, task, modality, metric = key.split("/")
        cells.append(
            Cell.model_validate({"set": eval_set, "task": task, "modality": modality, "metric": metric, "value": value})
        )
    return Submission(
        metadata=SubmissionMetadata.model_validate(
            {
                "model_name": model_name,
                "base_model": base_model,
                "method": method,
                "forget_ratio": forget_ratio,
                "protocol": protocol,
                "protocol_version": "1",
                "submitter": submitter,
                **metadata,
            }
        ),
        provenance=Provenance(model_id=f"hub/{model_name}", protocol=protocol, protocol_version="1", seed=0),
        cells=tuple(cells),
    )


@pytest.fixture
def submission() -> Submission:
    """A small valid version-2 submission."""
    return make_submission()


def hash_model(name: str = "hash"):  # type: ignore[no-untyped-def]
    """A registry fake (``kind: fake, behaviour: hash``): answers are a pure function of the prompt and images."""
    from backend.fakes import FakeModel
    from backend.registry import ModelSpec

    return FakeModel(ModelSpec(name=name, kind="fake", behaviour="hash"))
