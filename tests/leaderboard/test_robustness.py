"""Robustness files on the board: store (migration, versions), ingestion, table, API, CSV, details and plot."""

from __future__ import annotations

import json
import sqlite3

import pytest

from benchmark.errors import ValidationFailed
from benchmark.robustness import AttackFamily, read_robustness
from leaderboard import sqlite_store, submissions
from leaderboard.errors import DuplicateRobustness, RowNotOpen
from leaderboard.robustness import NOT_MEASURED, RECOVERY_COLUMNS, RECOVERY_MAX, WORST_FORGET
from leaderboard.service import DEMO_RESULTS, Leaderboard, LeaderboardSettings
from leaderboard.store import RobustnessStatus, RowKind, Status
from leaderboard.views import TableQuery, csv_text, details_html, table_json, table_view

GA_RESULTS = DEMO_RESULTS / "demo-ga.submission.json"
GA_ROBUSTNESS = DEMO_RESULTS / "demo-ga.robustness.json"
DEMO = TableQuery(board="demo")


def robustness_doc(**metadata) -> dict:
    doc = json.loads(GA_ROBUSTNESS.read_text())
    doc["metadata"].update(metadata)
    return doc


def as_bytes(doc: dict) -> bytes:
    return json.dumps(doc).encode()


@pytest.fixture
def demo_board(tmp_path):
    with Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "demo.sqlite", seed_references=False)) as lb:
        yield lb


def demo_id(board: Leaderboard, name: str) -> int:
    frame = board.table(kinds=(RowKind.DEMO,)).frame
    return int(frame.index[frame["model_name"] == name][0])


def test_a_store_made_before_robustness_is_upgraded_and_gets_the_demo_files(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite"
    monkeypatch.setattr(Leaderboard, "seed_demo_robustness", lambda self, folder=None: [])  # as the old code did
    with Leaderboard.open(LeaderboardSettings(db_path=path)) as old:
        before = [(r.id, r.content_hash) for r in old.submissions()]
    monkeypatch.undo()
    with sqlite3.connect(path) as conn:  # back to the layout before robustness (version 2)
        conn.execute("DROP TABLE robustness")
        conn.execute("ALTER TABLE submissions DROP COLUMN precision")
        conn.execute("DELETE FROM schema_migrations WHERE version > 2")
    with sqlite3.connect(path) as conn:
        assert not conn.execute("SELECT name FROM sqlite_master WHERE name = 'robustness'").fetchall()
    with Leaderboard.open(LeaderboardSettings(db_path=path)) as board:
        assert board.store.schema_version == len(sqlite_store.MIGRATIONS)
        assert [(r.id, r.content_hash) for r in board.submissions()] == before
        ga = demo_id(board, "demo-ga")
        current = board.robustness(ga)
        assert current is not None and current.raw == GA_ROBUSTNESS.read_bytes()  # verbatim
        assert current.result.metadata.model_name == "demo-ga"
        assert board.robustness(demo_id(board, "demo-vanilla")) is None or GA_ROBUSTNESS.with_name(
            "demo-vanilla.robustness.json").exists()
    with Leaderboard.open(LeaderboardSettings(db_path=path)) as again:  # idempotent on every start
        assert len(again.store.robustness_history(demo_id(again, "demo-ga"))) == 1


def test_sent_with_its_submission_it_is_moderated_with_it(empty_board):
    stored = empty_board.submit(GA_RESULTS.read_bytes(), robustness=GA_ROBUSTNESS.read_bytes(),
                                robustness_filename="demo-ga.robustness.json")
    history = empty_board.store.robustness_history(stored.id)
    assert [(r.status, r.with_submission) for r in history] == [(RobustnessStatus.PENDING, True)]
    assert empty_board.robustness(stored.id) is None
    assert empty_board.pending_robustness() == []  # moderated with the submission, not on its own
    empty_board.approve(stored.id)
    assert empty_board.robustness(stored.id).filename == "demo-ga.robustness.json"
    frame = empty_board.table(kinds=(RowKind.DEMO, RowKind.SUBMISSION)).frame
    worst = read_robustness(GA_ROBUSTNESS).worst_forget().forget.value
    assert frame.loc[stored.id, WORST_FORGET] == pytest.approx(worst)


def test_added_later_it_is_pending_until_approved_and_a_newer_one_supersedes_it(empty_board):
    row = empty_board.submit(GA_RESULTS.read_bytes(), status=Status.APPROVED)
    outcome = submissions.submit_robustness(empty_board, f"#{row.id}", GA_ROBUSTNESS.read_bytes(),
                                            filename="ga.json")
    assert outcome.ok and outcome.stored_robustness.status is RobustnessStatus.PENDING
    first = outcome.stored_robustness
    assert f"stored as {first.label} for #{row.id}" in outcome.message
    assert [r.id for r in empty_board.pending_robustness()] == [first.id]
    version = empty_board.version
    assert submissions.moderate(empty_board, first.label.lower(), "approve").ok
    assert empty_board.version != version  # the cached table is rebuilt
    assert empty_board.robustness(row.id).id == first.id
    assert not submissions.moderate(empty_board, first.label, "approve").ok  # already approved
    newer_doc = robustness_doc()
    newer_doc["attacks"][0]["changed"] = 1
    newer = empty_board.attach_robustness(row.id, as_bytes(newer_doc))
    empty_board.approve_robustness(newer.id)
    history = empty_board.store.robustness_history(row.id)
    assert [r.status for r in history] == [RobustnessStatus.SUPERSEDED, RobustnessStatus.APPROVED]
    assert history[0].raw == GA_ROBUSTNESS.read_bytes()  # the old text is kept
    with pytest.raises(DuplicateRobustness, match=f"already attached to #{row.id} as {first.label}"):
        empty_board.attach_robustness(row.id, GA_ROBUSTNESS.read_bytes())
    events = [e.action for e in empty_board.changelog()]
    assert "robustness approved" in events


def test_a_file_for_another_model_ratio_or_protocol_is_refused_naming_the_field(empty_board):
    row = empty_board.submit(GA_RESULTS.read_bytes(), status=Status.APPROVED)
    bad = as_bytes(robustness_doc(model_name="demo-npo", forget_ratio=5, protocol="strict"))
    outcome = submissions.submit_robustness(empty_board, row.id, bad)
    assert not outcome.ok
    fields = {p.field: p.message for p in outcome.problems}
    assert set(fields) == {"robustness.metadata.model_name", "robustness.metadata.forget_ratio",
                           "robustness.metadata.protocol"}
    assert fields["robustness.metadata.model_name"].startswith(f"is 'demo-npo' but row #{row.id} say 'demo-ga'")
    assert empty_board.store.robustness_history(row.id) == []
    # The same check in the same submission: nothing is stored.
    with pytest.raises(ValidationFailed, match="robustness.metadata.model_name"):
        empty_board.submit(GA_RESULTS.read_bytes(), robustness=bad)
    assert len(empty_board.submissions()) == 1


def test_newer_schema_versions_and_result_files_are_refused(empty_board):
    row = empty_board.submit(GA_RESULTS.read_bytes(), status=Status.APPROVED)
    newer = as_bytes({**robustness_doc(), "schema_version": 2})
    outcome = submissions.submit_robustness(empty_board, row.id, newer)
    assert [p.field for p in outcome.problems] == ["robustness.schema_version"]
    assert "newer than this leaderboard understands" in outcome.problems[0].message
    wrong = submissions.submit_robustness(empty_board, row.id, GA_RESULTS.read_bytes())
    assert wrong.problems[0].field == "robustness.kind" and "result file" in wrong.problems[0].message
    assert submissions.submit_robustness(empty_board, row.id, b"").problems[0].field == "robustness"
    assert submissions.submit_robustness(empty_board, "x", b"{}").problems[0].field == "submission_id"
    assert "no submission with id 999" in submissions.submit_robustness(empty_board, 999, newer).refusal
    empty_board.withdraw(row.id)
    with pytest.raises(RowNotOpen):
        empty_board.attach_robustness(row.id, GA_ROBUSTNESS.read_bytes())


def test_preview_reports_the_robustness_file(empty_board):
    outcome = submissions.preview(empty_board, GA_RESULTS.read_bytes(), metadata={},
                                  robustness=GA_ROBUSTNESS.read_bytes())
    assert outcome.ok and outcome.robustness is not None
    assert "Robustness file: 13 attack(s) against demo-vanilla" in outcome.message
    assert empty_board.submissions() == []


def test_table_values_not_measured_and_sorting(demo_board):
    ga = demo_id(demo_board, "demo-ga")
    result = demo_board.robustness(ga).result
    frame = demo_board.table(kinds=(RowKind.DEMO,)).frame
    family = result.family_recovery()
    for fam, column in RECOVERY_COLUMNS.items():
        assert frame.loc[ga, column] == pytest.approx(100 * family[fam])
    assert frame.loc[ga, RECOVERY_MAX] == pytest.approx(100 * max(family.values()))
    assert frame.loc[ga, WORST_FORGET] == pytest.approx(result.worst_forget().forget.value)
    view = table_view(demo_board, DEMO)
    headers = list(view.display.columns)
    assert "Forget under strongest attack ↓" in headers and "Recovery · any attack ↓" in headers
    assert "Recovery · precision ↓" not in headers  # the per-family columns are a group
    by_name = dict(zip(view.display["Model"].str.replace("\\", ""), view.display["Forget under strongest attack ↓"],
                       strict=True))
    assert by_name["demo-ga"] == f"{result.worst_forget().forget.value:.1f}"
    full = table_view(demo_board, TableQuery(board="demo", groups=("robustness",)))
    assert "Recovery · relearning ↓" in full.display.columns
    assert table_view(demo_board, TableQuery()).display.columns.tolist() == [
        c for c in table_view(demo_board, TableQuery()).display.columns if "attack" not in c]  # none on real rows
    # Rows without a file read "not measured", never 0 or blank, and sort last in both directions.
    from leaderboard.store import RobustnessStatus as S

    demo_ids = demo_board.table(kinds=(RowKind.DEMO,)).frame.index
    for row in demo_ids:  # every demo row ships a file: take them all off the board
        current = demo_board.robustness(int(row))
        if current is not None:
            demo_board.store.set_robustness_status(current.id, S.REJECTED, now=demo_board._clock())
    other = demo_id(demo_board, "demo-npo")
    demo_board.attach_robustness(other, as_bytes(robustness_doc(model_name="demo-npo")),
                                 status=RobustnessStatus.APPROVED)
    view = table_view(demo_board, TableQuery(board="demo", sort_by=WORST_FORGET))
    column = view.display["Forget under strongest attack ↓"].tolist()
    assert column[0] != NOT_MEASURED and column[1:] == [NOT_MEASURED] * (len(demo_ids) - 1)
    assert table_view(demo_board, TableQuery(board="demo", sort_by=RECOVERY_MAX)).ids[0] == other


def test_json_api_has_a_robustness_object_or_null(demo_board):
    rows = {r["model_name"]: r for r in table_json(demo_board, DEMO)["rows"]}
    ga = rows["demo-ga"]["robustness"]
    assert set(ga) == {"worst_forget", "worst_attack", "recovery", "recovery_max", "attacks"}
    result = read_robustness(GA_ROBUSTNESS)
    assert ga["attacks"] == len(result.attacks) and ga["worst_attack"] == result.worst_forget().label
    relearning = result.family_recovery()[AttackFamily.RELEARNING]
    assert ga["recovery"]["relearning"] == pytest.approx(100 * relearning)
    assert set(ga["recovery"]) == {"precision", "relearning", "prompt", "image", "modality"}
    missing = [name for name in rows if not (DEMO_RESULTS / f"{name}.robustness.json").exists()]
    assert all(rows[name]["robustness"] is None for name in missing)
    assert WORST_FORGET not in rows["demo-ga"]  # nested, not flat
    json.dumps(rows, allow_nan=False)


def test_submitted_text_is_escaped_in_details_and_neutralised_in_csv(empty_board):
    row = empty_board.submit(GA_RESULTS.read_bytes(), status=Status.APPROVED)
    doc = robustness_doc()
    worst = max(range(len(doc["attacks"])), key=lambda i: doc["attacks"][i]["forget"]["value"])
    doc["attacks"][worst]["label"] = "=HYPERLINK(\"x\") <b>bold</b>"
    doc["attacks"][worst]["description"] = "<script>alert(1)</script>"
    empty_board.attach_robustness(row.id, as_bytes(doc), status=RobustnessStatus.APPROVED)
    html = details_html(empty_board, row.id)
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>bold</b>" not in html
    prefill = next(a for a in doc["attacks"] if a["name"] == "prompt-prefill")
    before, after = prefill["forget_unlearned"]["value"], prefill["forget"]["value"]
    assert f"{before:.1f} → {after:.1f}" in html  # prefilled answer: unlearned -> attacked
    text = csv_text(table_view(empty_board, TableQuery()))
    header, line = text.splitlines()[:2]
    assert "robust_worst_attack" in header and "'=HYPERLINK" in line


def test_details_say_not_measured_without_a_file(empty_board):
    row = empty_board.submit(GA_RESULTS.read_bytes(), status=Status.APPROVED)
    assert f"{NOT_MEASURED}: no robustness file" in details_html(empty_board, row.id)


def test_robustness_plot_and_its_empty_state(demo_board):
    from leaderboard.plots import robustness_dumbbell
    from leaderboard.tab import robustness_figure

    figure = robustness_figure(demo_board, demo_board.table(kinds=(RowKind.DEMO,)))
    names = [t.name for t in figure.data]
    assert "Under the attack" in names and "Unlearned, no attack" in names
    attacked = next(t for t in figure.data if t.name == "Under the attack")
    shown = min(6, len(list(DEMO_RESULTS.glob("*.robustness.json"))))  # the plot draws at most 6 rows
    per_row = len(read_robustness(GA_ROBUSTNESS).attacks) - 1  # every attack but the baseline
    assert len(attacked.x) == shown * per_row and all(0 <= x <= 100 for x in attacked.x)
    empty = robustness_dumbbell([])
    assert not empty.data and "No row shown has robustness results" in empty.layout.annotations[0].text


def test_a_row_that_is_its_own_reference_reads_nothing_removed_not_unmeasured(demo_board):
    from leaderboard.views import NO_RECOVERY

    view = table_view(demo_board, DEMO)
    by_name = dict(zip(view.display["Model"].str.replace("\\", ""), view.display["Recovery · any attack ↓"],
                       strict=True))
    assert by_name["demo-vanilla"] == NO_RECOVERY  # its file measures it against itself: nothing was removed
    assert by_name["demo-ga"] not in (NO_RECOVERY, NOT_MEASURED)
