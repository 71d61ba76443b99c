"""The SQLite store through the service: references, duplicates, moderation, rate limit, verbatim files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from benchmark.errors import ValidationFailed
from benchmark.submission import dump_submission
from benchmark.vocabulary import Protocol
from leaderboard.errors import AlreadyInStatus, DuplicateSubmission, RateLimited, SubmissionNotFound
from leaderboard.ingest import SourceFormat
from leaderboard.references import REFERENCES
from leaderboard.service import Leaderboard, LeaderboardSettings
from leaderboard.sqlite_store import MIGRATIONS, SQLiteStore
from leaderboard.store import RowKind, Status, submitter_key

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
    named = f"#{first.id} 'LLaVA vanilla \\(fixture\\)' \\(a submission, pending\\)"
    with pytest.raises(DuplicateSubmission, match=named) as info:
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
    with pytest.raises(AlreadyInStatus, match="already rejected"):
        board.reject(stored.id)
    withdrawn = board.withdraw(board.approve(stored.id).id, reason="asked by the submitter")
    assert withdrawn.status is Status.WITHDRAWN
    assert stored.id not in board.table(protocol=stored.submission.metadata.protocol).frame.index
    log = board.changelog()
    assert [(e.action, e.submission_id, e.reason) for e in log[:4]] == [
        ("withdrawn", stored.id, "asked by the submitter"), ("approved", stored.id, None),
        ("rejected", stored.id, "spam"), ("approved", stored.id, None)]
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


def test_same_cells_are_a_duplicate_whatever_the_file_says(board, official_fixture):
    from leaderboard.references import REFERENCES

    doc = json.loads(official_fixture.read_text())
    first = board.submit(official_fixture.read_bytes(), metadata=UPSTREAM_METADATA)
    lowered = {key.lower(): value for key, value in doc.items()}  # the same cells under other spellings
    noisy = json.loads(json.dumps(doc))
    noisy["Forget Set Results"]["generation"]["Average ROUGE-L (Image_Textual)"] *= 1 + 1e-12  # float noise
    for variant in (lowered, noisy):
        with pytest.raises(DuplicateSubmission, match=f"#{first.id}"):
            board.submit(json.dumps(variant).encode(), metadata={**UPSTREAM_METADATA, "model_name": "other"})
    # The cells of a seeded reference row, as a new submission: refused, naming the reference.
    ga = next(r for r in REFERENCES if r.method == "GA")
    copy = make_submission(model_name="my GA", values=ga.values, protocol=Protocol.OFFICIAL)
    with pytest.raises(DuplicateSubmission, match="community-reported reference row"):
        board.submit(dump_submission(copy).encode())


def test_submitter_names_are_compared_normalised(tmp_path):
    settings = LeaderboardSettings(db_path=tmp_path / "rl.sqlite", rate_limit_count=2, seed_demo=False)
    with Leaderboard.open(settings) as board:
        board.submit(dump_submission(make_submission(model_name="a", submitter="Bob")).encode())
        board.submit(dump_submission(make_submission(model_name="b", submitter="ＢＯＢ")).encode())  # NFKC
        for disguise in ("bob ", "BOB"):
            with pytest.raises(RateLimited):
                board.submit(dump_submission(make_submission(model_name=disguise, submitter=disguise)).encode())
        hidden = dump_submission(make_submission(model_name="c", submitter="bobX")).replace("bobX", "bob\\u200b")
        with pytest.raises(ValidationFailed, match="metadata.submitter.*U\\+200B"):
            board.submit(hidden.encode())  # invisible characters are refused outright
    assert submitter_key("  Ｂob\u200b ") == "bob"


def test_every_write_changes_the_version_and_the_cached_table(empty_board):
    first = empty_board.table()
    assert empty_board.table() is first  # cached while nothing changes
    version = empty_board.version
    stored = empty_board.submit(dump_submission(make_submission(protocol=Protocol.OFFICIAL)).encode())
    rebuilt = empty_board.table()
    assert empty_board.version > version and rebuilt is not first and rebuilt.frame.empty  # pending: not shown
    empty_board.approve(stored.id)
    assert stored.id in empty_board.table().frame.index


def test_a_version_1_store_is_upgraded_in_place(tmp_path, official_fixture):
    """A store written by the first layout keeps every row and file, gains kinds and a history."""
    import sqlite3

    from leaderboard.sqlite_store import _V1

    path = tmp_path / "old.sqlite"
    with Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "new.sqlite")) as source:
        rows = source.submissions()  # references, demo rows
        raw = {r.id: source.raw(r.id) for r in rows}
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for statement in _V1[0]:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES (1, '2025-01-01T00:00:00+00:00')")
    for r in rows:
        meta = r.submission.metadata
        stamp = r.created_at.isoformat()
        conn.execute(
            "INSERT INTO submissions (id, status, source_format, content_hash, submitter, model_name, base_model, "
            "method, forget_ratio, unlearning_modality, protocol, protocol_version, schema_version, submission_json, "
            "raw, created_at, updated_at) VALUES (?, 'approved', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (r.id, r.source_format.value, r.content_hash, meta.submitter, meta.model_name, meta.base_model,
             meta.method, meta.forget_ratio, meta.unlearning_modality and meta.unlearning_modality.value,
             meta.protocol.value, meta.protocol_version, r.submission.schema_version,
             r.submission.model_dump_json(), raw[r.id].results, stamp, stamp))
        for c in r.submission.cells:
            conn.execute("INSERT INTO cells (submission_id, key, value, unit) VALUES (?, ?, ?, ?)",
                         (r.id, c.key.id, c.value, c.unit.value))
    conn.commit()
    conn.close()
    with Leaderboard.open(LeaderboardSettings(db_path=path)) as board:
        assert board.store.schema_version == len(MIGRATIONS) and not board.store.fresh
        upgraded = board.submissions()
        assert [(r.id, r.content_hash) for r in upgraded] == [(r.id, r.content_hash) for r in rows]
        assert [r.kind.value for r in upgraded] == [r.kind.value for r in rows]  # references, then demo rows
        assert {r.kind.value for r in upgraded} == {"reference", "demo"}
        assert all(board.raw(r.id).results == raw[r.id].results for r in upgraded)
        assert len(board.table().frame) == 6 and len(board.table(kinds=(RowKind.DEMO,)).frame) == 6
        with pytest.raises(DuplicateSubmission):  # cell signatures were filled in
            board.submit(official_fixture.read_bytes(), metadata=UPSTREAM_METADATA)
            board.submit(official_fixture.read_bytes(), metadata=UPSTREAM_METADATA)
