"""Fixtures every test folder shares: the files under ``tests/fixtures`` (nothing outside the repository)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OFFICIAL_FIXTURE = FIXTURES / "official" / "llava_vanilla_forget5_final_evaluation_results.json"


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
