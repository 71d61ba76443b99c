"""Shared fixtures for the leaderboard tests: file paths, valid submissions, real stores in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def board(tmp_path):
    """A leaderboard on a fresh SQLite file (reference rows seeded, no demo rows), closed after the test."""
    from leaderboard.service import Leaderboard, LeaderboardSettings

    with Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "lb.sqlite", seed_demo=False)) as lb:
        yield lb


@pytest.fixture
def empty_board(tmp_path):
    """A leaderboard on a fresh SQLite file without reference or demo rows and without a rate limit."""
    from leaderboard.service import Leaderboard, LeaderboardSettings

    settings = LeaderboardSettings(
        db_path=tmp_path / "empty.sqlite", seed_references=False, seed_demo=False, rate_limit_count=0
    )
    with Leaderboard.open(settings) as lb:
        yield lb


UPSTREAM_METADATA = {
    "model_name": "LLaVA vanilla (fixture)",
    "base_model": "llava-hf/llava-1.5-7b-hf",
    "method": "vanilla",
    "forget_ratio": 5,
    "unlearning_modality": "none",
    "submitter": "tester",
}
"""Metadata for ingesting an upstream file."""


def snapshot(board) -> list[tuple[int, str, str, tuple[tuple[str, float], ...]]]:
    """Everything observable in a store, to check that a refused upload changed nothing."""
    return [
        (r.id, r.status.value, r.content_hash, tuple((c.key.id, c.value) for c in r.submission.cells))
        for r in board.submissions()
    ]
