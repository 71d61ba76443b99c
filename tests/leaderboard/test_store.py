"""The SQLite store through the service: references, duplicates, moderation, rate limit, verbatim files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from benchmark.submission import dump_submission
from leaderboard.errors import DuplicateSubmission, RateLimited, SubmissionNotFound
from leaderboard.ingest import SourceFormat
from leaderboard.references import REFERENCES
from leaderboard.service import Leaderboard, LeaderboardSettings
from leaderboard.sqlite_store import MIGRATIONS, SQLiteStore
from leaderboard.store import Status

from ..conftest import make_submission
from .conftest import UPSTREAM_METADATA, snapshot


def test_fresh_store_is_seeded_with_reference_rows_once(tmp_path):
    path = tmp_path / "lb.sqlite"
    with Leaderboard.open(LeaderboardSettings(db_path=path, seed_demo=False)) as board:
        refs = board.submissions()
        assert len(REFERENCES) == 6
        assert [r.source_format for r in refs] == [SourceFormat.REFERENCE] * 6
        assert all(
            r.status is Status.APPROVED and r.submission.metadata.link.startswith("https://github.com/") for r in refs
        )
        issue11 = refs[0].submission
        assert len(issue11.cells) == 16 and {c.set.value for c in issue11.cells} == {"forget", "test"}
        assert all(len(r.submission.cells) == 2 for r in refs[1:])
        assert refs[3].submission.value("forget/generation/image_text/rougeL") == 0.1485  # GradDiff, issue #20
    with Leaderboard.open(LeaderboardSettings(db_path=path, seed_demo=False)) as again:
        assert len(again.submissions()) == 6  # not seeded twice
        assert isinstance(again.store, SQLiteStore) and not again.store.fresh
        assert again.store.schema_version == len(MIGRATIONS)


def test_reingesting_the_same_file_is_a_duplicate(board, official_fixture):
    first = board.submit(official_fixture.read_bytes(), metadata=UPSTREAM_METADATA)
    before = snapshot(board)
    with pytest.raises(DuplicateSubmission, match=f"#{first.id} \\(pending\\)") as info:
        board.submit(official_fixture.read_bytes(), metadata={**UPSTREAM_METADATA, "model_name": "renamed"})
    assert info.value.existing_id == first.id
    reformatted = json.dumps(json.loads(official_fixture.read_text()), indent=None).encode()
    with pytest.raises(DuplicateSubmission):
        board.submit(reformatted, metadata=UPSTREAM_METADATA)  # whitespace does not make it new
    board.reject(first.id, reason="test")
    with pytest.raises(DuplicateSubmission, match="rejected"):
        board.submit(official_fixture.read_bytes(), metadata=UPSTREAM_METADATA)
    assert [row[:1] for row in snapshot(board)] == [row[:1] for row in before]


def test_uploaded_files_are_kept_verbatim(board, official_fixture):
    data = official_fixture.read_bytes()
    stored = board.submit(data, filename="x_final_evaluation_results.json", metadata=UPSTREAM_METADATA)
    raw = board.raw(stored.id)
    assert raw.results == data and raw.samples is None and raw.filename == "x_final_evaluation_results.json"
    assert board.get(stored.id).submission.metadata.model_name == UPSTREAM_METADATA["model_name"]


def test_moderation_states(board):
    stored = board.submit(dump_submission(make_submission()).encode())
    assert stored.status is Status.PENDING
    strict = board.table(protocol=stored.submission.metadata.protocol)
    assert stored.id not in strict.frame.index  # pending rows are not ranked
    assert board.approve(stored.id).status is Status.APPROVED
    assert stored.id in board.table(protocol=stored.submission.metadata.protocol).frame.index
    rejected = board.reject(stored.id, reason="spam")
    assert (rejected.status, rejected.status_reason) == (Status.REJECTED, "spam")
    assert [r.id for r in board.submissions(Status.REJECTED)] == [stored.id]
    with pytest.raises(SubmissionNotFound):
        board.approve(9999)
    with pytest.raises(SubmissionNotFound):
        board.get(9999)


def test_rate_limit_per_submitter(tmp_path):
    now = [datetime(2025, 1, 1, tzinfo=UTC)]
    settings = LeaderboardSettings(db_path=tmp_path / "rl.sqlite", rate_limit_count=2, rate_limit_window_hours=24)
    from leaderboard.sqlite_store import SQLiteStore

    board = Leaderboard(SQLiteStore(settings.db_path), settings, clock=lambda: now[0])
    try:
        for i in range(2):
            board.submit(dump_submission(make_submission(model_name=f"m{i}", submitter="bob")).encode())
        before = snapshot(board)
        with pytest.raises(RateLimited, match="'bob' already made 2"):
            board.submit(dump_submission(make_submission(model_name="m2", submitter="bob")).encode())
        assert snapshot(board) == before
        board.submit(dump_submission(make_submission(model_name="m3", submitter="carol")).encode())  # others unaffected
        now[0] += timedelta(hours=25)
        board.submit(dump_submission(make_submission(model_name="m2", submitter="bob")).encode())  # window passed
    finally:
        board.close()


def test_floats_round_trip_bit_for_bit(empty_board):
    values = {"forget/generation/text/rougeL": 0.1 + 0.2, "retain/cloze/image_text/accuracy": 100 / 3}
    stored = empty_board.submit(dump_submission(make_submission(values=values)).encode())
    again = empty_board.get(stored.id).submission
    assert {c.key.id: c.value for c in again.cells} == values
