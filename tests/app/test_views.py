"""The leaderboard and submit tabs' pure parts: filters, column groups, sorting, details, escaping, errors."""

from __future__ import annotations

import pytest
from fakes import UPSTREAM_METADATA

from benchmark.vocabulary import Protocol
from leaderboard.service import Leaderboard, LeaderboardSettings
from leaderboard.submit_tab import authorized, metadata_from_form, pending_frame, preview_upload, submit_upload
from leaderboard.tab import TableQuery, details_markdown, table_view, write_csv
from probes.tab import render_answers


@pytest.fixture
def board(tmp_path):
    settings = LeaderboardSettings(db_path=tmp_path / "lb.sqlite", rate_limit_count=0, seed_demo=False)
    with Leaderboard.open(settings) as lb:
        yield lb


def test_filters_groups_and_direction_aware_sort(board):
    full = table_view(board, TableQuery())
    assert len(full.display) == 6 and full.display["Model"].str.contains("reference").all()
    assert len(full.columns) == 24
    only_ga = table_view(board, TableQuery(method="GA"))
    assert only_ga.table.frame["method"].tolist() == ["GA"]
    assert len(table_view(board, TableQuery(search="ISSUE #11")).display) == 1  # case-insensitive, in the name
    assert len(table_view(board, TableQuery(search="npo")).display) == 1
    assert len(table_view(board, TableQuery(show_references=False)).display) == 0
    assert len(table_view(board, TableQuery(unlearning_modality="none")).display) == 2
    narrow = table_view(board, TableQuery(sets=("Forget",), tasks=("Gen",), modalities=("image+text",)))
    assert [c.id for c in narrow.columns] == ["forget/generation/image_text/rougeL"]
    assert narrow.display.columns[-1] == "Forget ↓ · Gen · image+text"
    forget = table_view(board, TableQuery(sort_by="forget/generation/image_text/rougeL")).table.frame
    assert forget["forget/generation/image_text/rougeL"].dropna().is_monotonic_increasing  # lower is better
    retain = table_view(board, TableQuery(sort_by="retain/generation/image_text/rougeL")).table.frame
    assert retain["retain/generation/image_text/rougeL"].dropna().is_monotonic_decreasing  # higher is better
    csv = write_csv(full).read_text()
    assert csv.splitlines()[0].startswith("id,kind,status,model_name") and len(csv.splitlines()) == 7


def test_submitted_text_is_escaped_everywhere(board, tmp_path, official_fixture):
    evil = {**UPSTREAM_METADATA, "model_name": "<img src=x onerror=alert(1)>[x](javascript:alert(1))",
            "notes": "<script>alert('n')</script>", "submitter": "**bold**"}
    outcome = submit_upload(board, official_fixture, None, evil)
    assert outcome.ok, outcome.message
    board.approve(outcome.submission_id)
    view = table_view(board, TableQuery())
    cell = view.display.loc[view.display["ID"] == outcome.submission_id, "Model"].iloc[0]
    assert "<img" not in cell and "&lt;img" in cell and "](javascript" not in cell
    details = details_markdown(board, outcome.submission_id)
    assert "<script>" not in details and "<img" not in details and "\\*\\*bold\\*\\*" in details
    assert "&lt;script&gt;alert\\('n'\\)&lt;/script&gt;" in details
    assert "| 95 % CI |" in details and "Forget ↓" in details
    assert "<script>" not in pending_frame(board).to_string()


def test_preview_stores_nothing_and_errors_name_fields(board, tmp_path, official_fixture):
    before = [s.id for s in board.submissions()]
    good = preview_upload(board, official_fixture, None, UPSTREAM_METADATA)
    assert good.ok and len(good.cells) == 12 and set(good.cells["set"]) == {"Forget ↓"}
    bad_file = tmp_path / "bad_final_evaluation_results.json"
    bad_file.write_text('{"Forget Set Results": {"classification": {"Pure Text Question Acuracy": 140}}}')
    bad = preview_upload(board, bad_file, None, {**UPSTREAM_METADATA, "link": "javascript:alert(1)"})
    assert not bad.ok and bad.cells.empty
    assert "Pure Text Question Acuracy" in bad.message.replace("\\", "")
    assert "Paper or code link (`metadata.link`)" in bad.message
    empty = submit_upload(board, None, None, UPSTREAM_METADATA)
    assert not empty.ok and "`file`" in empty.message
    assert [s.id for s in board.submissions()] == before


def test_form_and_authorization():
    form = metadata_from_form({"model_name": " m ", "forget_ratio": "10", "unlearning_modality": "not reported",
                               "link": ""})
    assert form == {"model_name": "m", "forget_ratio": 10}
    assert authorized("s3cret", "s3cret") and not authorized("s3cret", "nope") and not authorized(None, "")
    assert authorized(None, None, "alice", ("alice",)) and not authorized(None, None, "eve", ("alice",))


def test_probe_rendering_escapes_model_output():
    from fakes import scripted_model

    from probes.questions import free_question
    from probes.session import run_probe

    model = scripted_model("m")
    state = list(run_probe(model, model, [free_question("<script>x</script>")]))[-1]
    state.models = ("<b>m</b>", "<b>m</b>")  # registry names cannot hold markup; the page escapes them anyway
    page = render_answers(state)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;m&lt;/b&gt;" in page
    assert page.count('class="probe-answer"') == 2


def test_strict_table_is_separate(board):
    assert table_view(board, TableQuery(protocol=Protocol.STRICT)).display.empty


def test_seeded_demo_rows_are_marked_demo(tmp_path):
    with Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "demo.sqlite")) as lb:
        shown = table_view(lb, TableQuery()).display
        models = " ".join(shown["Model"].astype(str))
        for name in ("demo-vanilla", "demo-ga", "demo-graddiff", "demo-npo"):
            assert name.replace("-", "\\-") + " · *demo*" in models
        assert models.count("*demo*") == 4
