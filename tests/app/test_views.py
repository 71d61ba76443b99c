"""The leaderboard and submit tabs' pure parts: boards, ranks, columns, pages, links, details, CSV, moderation."""

from __future__ import annotations

import csv
import io

import pytest
from fakes import UPSTREAM_METADATA

from benchmark.submission import dump_submission
from benchmark.vocabulary import Protocol
from leaderboard import submissions
from leaderboard.service import Leaderboard, LeaderboardSettings
from leaderboard.store import Status
from leaderboard.submissions import TokenThrottle, check_admin
from leaderboard.submit_tab import metadata_from_form, pending_frame, preview_upload, submit_upload
from leaderboard.views import PAGE_SIZE, TableQuery, csv_text, details_html, table_view
from probes.tab import render_answers

from ..conftest import make_submission


@pytest.fixture
def board(tmp_path):
    settings = LeaderboardSettings(db_path=tmp_path / "lb.sqlite", rate_limit_count=0)
    with Leaderboard.open(settings) as lb:
        yield lb


def test_real_and_demo_boards_never_mix(board):
    real = table_view(board, TableQuery())
    assert real.total == 6 and real.display["Model"].str.contains("community-reported").all()
    assert (real.display["Rank"] == "—").all()  # no reference row reports all 24 cells: none is ranked
    assert real.display["Cells"].tolist()[0] in {"10/24", "2/24"}
    assert "6 row(s), 0 ranked" in real.caption
    demo = table_view(board, TableQuery(board="demo"))
    assert demo.total == 6 and not demo.display["Model"].str.contains("community").any()
    assert demo.display["Rank"].iloc[0] in {"1", "1–2", "1–3", "1–4"}  # ranked among themselves, with intervals
    names = " ".join(demo.display["Model"])
    assert "demo\\-npo" in names and "LLaVA" not in names


def test_a_readable_default_table_and_column_groups(board):
    view = table_view(board, TableQuery(board="demo"))
    assert list(view.display.columns) == ["Rank", "Model", "Method", "Cells",
                                          "Combined ↑", "Forgetting ↑", "Utility ↑", "Forget ↓", "Test ↓",
                                          "Retain ↑", "Celebrity ↑",
                                          # the demo rows carry robustness files: the worst case and the highest
                                          # recovery are shown by default there
                                          "Forget under strongest attack ↓", "Recovery · any attack ↓"]
    # Every demo row has the same base model and forget split: said once, in the caption, not per row.
    assert view.caption.endswith("every row: base model demo\\-base, forget split 10 %")
    real = table_view(board, TableQuery())  # the shipped references are all LLaVA-1.5-7B at forget 5 %
    assert "Base model" not in real.display.columns and "every row: base model llava" in real.caption
    assert "Base model" in table_view(board, TableQuery(board="demo", groups=("details",))).display.columns
    wide = table_view(board, TableQuery(board="demo", groups=("forget", "details")))
    assert "Forget · Gen · img+text · ROUGE-L ↓" in wide.display.columns and "ID" in wide.display.columns
    assert len([c for c in wide.display.columns if c.startswith("Forget ·")]) == 6
    every = table_view(board, TableQuery(board="demo", groups=("retain", "metrics")))
    assert len([c for c in every.display.columns if c.startswith("Retain ·")]) == 12
    # One scale: ROUGE-L is shown x100, like the accuracies.
    rouge = wide.display["Forget · Gen · img+text · ROUGE-L ↓"]
    assert rouge.between(1, 100).all()


def test_filters_search_sort_and_empty_state(board):
    assert table_view(board, TableQuery(method="GA")).table.frame["method"].tolist() == ["GA"]
    assert table_view(board, TableQuery(search="ISSUE #11")).total == 1  # case-insensitive, in the name
    assert table_view(board, TableQuery(unlearning_modality="none")).total == 2
    key = "forget/generation/image_text/rougeL"
    forget = table_view(board, TableQuery(sort_by=key)).table.frame[key].dropna()
    assert forget.is_monotonic_increasing  # lower is better on the forget set
    retain = table_view(board, TableQuery(sort_by="retain/generation/image_text/rougeL")).table.frame
    assert retain["retain/generation/image_text/rougeL"].dropna().is_monotonic_decreasing
    sorted_view = table_view(board, TableQuery(sort_by=key))
    assert "sorted by Forget · Gen · img+text · ROUGE-L ↓ score" not in sorted_view.caption
    assert "sorted by Forget · Gen · img+text · ROUGE-L ↓, best first" in sorted_view.caption
    nothing = table_view(board, TableQuery(search="no such model"))
    assert nothing.total == 0 and "No row matches these filters" in nothing.empty_message
    assert table_view(board, TableQuery(protocol=Protocol.STRICT)).empty_message.startswith("**No results")


def test_pages_send_only_the_visible_rows(tmp_path):
    settings = LeaderboardSettings(db_path=tmp_path / "many.sqlite", rate_limit_count=0, seed_references=False,
                                   seed_demo=False)
    with Leaderboard.open(settings) as lb:
        for i in range(PAGE_SIZE + 7):
            sub = make_submission(model_name=f"m{i:03d}", protocol=Protocol.OFFICIAL,
                                  values={"forget/classification/image_text/accuracy": i / 2})
            lb.submit(dump_submission(sub).encode(), status=Status.APPROVED)
        first = table_view(lb, TableQuery(sort_by="forget/classification/image_text/accuracy"))
        assert len(first.display) == PAGE_SIZE and first.pages == 2 and first.total == PAGE_SIZE + 7
        second = table_view(lb, TableQuery(sort_by="forget/classification/image_text/accuracy", page=2))
        assert len(second.display) == 7 and not set(second.ids) & set(first.ids)
        assert table_view(lb, TableQuery(page=99)).query.page == 2  # clamped
        assert len(csv_text(first).splitlines()) == PAGE_SIZE + 8  # the download has every page


def test_views_round_trip_through_the_url():
    query = TableQuery(board="demo", protocol=Protocol.STRICT, search="npo", base_model="llava-hf/llava-1.5-7b-hf",
                       forget_ratio="10", method="NPO", unlearning_modality="text", groups=("forget", "details"),
                       sort_by="forget_score", page=3)
    params = query.to_params()
    assert params["q"] == "npo" and params["cols"] == "forget,details" and params["board"] == "demo"
    assert TableQuery.from_params(params) == query
    assert TableQuery().to_params() == {}
    hostile = {"board": "x", "protocol": "evil", "ratio": "7", "page": "-3", "sort": "<script>", "cols": "a,b"}
    assert TableQuery.from_params(hostile) == TableQuery()  # a bad link shows the default view, never an error


def test_csv_neutralises_formulas(board, official_fixture):
    for name in ("=HYPERLINK(\"http://x\",\"y\")", "+1+1", "@SUM(A1)", "-2+3"):
        outcome = submit_upload(board, official_fixture, None, {**UPSTREAM_METADATA, "model_name": name,
                                                                 "submitter": name})
        assert outcome.ok, outcome.message
        board.approve(outcome.submission_id)
        break  # one stored row; the others would be duplicates of its cells
    rows = list(csv.DictReader(io.StringIO(csv_text(table_view(board, TableQuery())))))
    row = next(r for r in rows if "HYPERLINK" in r["model_name"])
    assert row["model_name"].startswith("'=") and row["submitter"].startswith("'=")
    assert float(row["forget/classification/image_text/accuracy"]) == pytest.approx(49.1666, abs=1e-3)
    from leaderboard.views import neutralise_cell

    assert [neutralise_cell(v) for v in ("+1+1", "@SUM(A1)", "-2+3", "\tx", "ok", -2.5)] == [
        "'+1+1", "'@SUM(A1)", "'-2+3", "'\tx", "ok", -2.5]


def test_submitted_text_is_escaped_everywhere(board, official_fixture):
    evil = {**UPSTREAM_METADATA, "model_name": "<img src=x onerror=alert(1)>[x](javascript:alert(1))",
            "notes": "<script>alert('n')</script>", "submitter": "**bold**"}
    outcome = submit_upload(board, official_fixture, None, evil)
    assert outcome.ok, outcome.message
    assert "<script>" not in pending_frame(board).to_string()
    board.approve(outcome.submission_id)
    view = table_view(board, TableQuery(groups=("details",)))
    cell = view.display.loc[view.display["ID"] == outcome.submission_id, "Model"].iloc[0]
    assert "<img" not in cell and "&lt;img" in cell and "](javascript" not in cell
    details = details_html(board, outcome.submission_id)
    assert "<script>" not in details and "<img" not in details and "**bold**" in details
    assert "&lt;script&gt;alert(&#x27;n&#x27;)&lt;/script&gt;" in details
    assert "95 % CI" in details and "Forget (↓ lower is better)" in details
    assert "49.17" in details  # accuracies on 0-100 ...
    assert "57.08" in details  # ... and ROUGE-L x100, one scale


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
    blank = tmp_path / "blank.json"
    blank.write_text("  \n")
    assert "the file is empty" in preview_upload(board, blank, None, UPSTREAM_METADATA).message
    # Nothing is assumed: without a base model and a forget ratio an upstream file is refused.
    bare = {k: v for k, v in UPSTREAM_METADATA.items() if k not in ("base_model", "forget_ratio")}
    missing = preview_upload(board, official_fixture, None, bare)
    assert not missing.ok and "metadata.base_model" in missing.message and "metadata.forget_ratio" in missing.message
    assert [s.id for s in board.submissions()] == before


def test_form_passes_only_what_was_given():
    form = metadata_from_form({"model_name": " m ", "forget_ratio": "10", "unlearning_modality": "not reported",
                               "link": "", "base_model": None, "protocol": None})
    assert form == {"model_name": "m", "forget_ratio": 10}


def test_moderation_view_and_refusals(board, official_fixture):
    vanilla = submit_upload(board, official_fixture, None, UPSTREAM_METADATA)
    board.approve(vanilla.submission_id)
    values = {"forget/classification/image_text/accuracy": 9.0, "forget/classification/text/accuracy": 6.0}
    ga = make_submission(model_name="my GA", protocol=Protocol.OFFICIAL, values=values)
    pending = board.submit(dump_submission(ga).encode())
    frame = pending_frame(board)
    row = frame[frame["ID"] == pending.id].iloc[0]
    # mean of 9 and 6 = 7.5; the vanilla row's same two cells: (49.17 + 46.67) / 2 = 47.92
    assert row["Forget ↓ (Δ vanilla)"] == "7.5 (-40.4)"
    assert row["Vanilla"] == "#1"  # issue #11's vanilla reference: the same cells as the fixture, and older
    assert row["Retain ↑ (Δ vanilla)"] == "—"
    ok = submissions.moderate(board, pending.id, "approve")
    assert ok.ok and "approved" in ok.message
    again = submissions.moderate(board, pending.id, "approve")
    assert not again.ok and "already approved" in again.message
    assert submissions.moderate(board, f"#{pending.id}", "withdraw", "asked by the author").ok
    for sid, action, words in ((1.9, "approve", "whole number"), ("1; DROP", "approve", "whole number"),
                               (9999, "approve", "no submission with id 9999"),
                               (pending.id, "delete", "unknown action"),
                               (True, "approve", "whole number"), (pending.id, "approve", None)):
        outcome = submissions.moderate(board, sid, action, "x" * 2000 if words is None else None)
        assert not outcome.ok and (words or "at most 1000") in outcome.message


def test_wrong_admin_tokens_are_throttled():
    now = [0.0]
    throttle = TokenThrottle(limit=3, window_s=60, global_limit=5, clock=lambda: now[0])
    assert [check_admin(throttle, "1.2.3.4", "s3cret", "guess") for _ in range(3)] == ["wrong admin token"] * 3
    assert "too many wrong admin tokens" in check_admin(throttle, "1.2.3.4", "s3cret", "s3cret")
    assert check_admin(throttle, "5.6.7.8", "s3cret", "s3cret") is None  # others are not locked out
    check_admin(throttle, "5.6.7.8", "s3cret", "a")
    check_admin(throttle, "9.9.9.9", "s3cret", "b")
    assert "too many" in check_admin(throttle, "10.0.0.1", "s3cret", "c")  # rotating addresses hits the total
    now[0] += 61
    assert check_admin(throttle, "1.2.3.4", "s3cret", "s3cret") is None
    assert check_admin(throttle, "x", None, "anything").startswith("moderation is off")
    assert check_admin(throttle, "x", None, None, "alice", ("alice",)) is None


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


def test_the_tab_callbacks_render_one_page_and_drop_filters_the_board_lacks(board):
    import gradio as gr

    from leaderboard.tab import build_leaderboard_tab

    with gr.Blocks() as blocks:
        tab = build_leaderboard_tab(board, blocks)
    out = tab["render"](TableQuery(method="no such method", board="demo"), None, False, "scores", "forget",
                        "classification")
    method_dropdown, grid, caption = out[2], out[3], out[4]
    assert method_dropdown.value == "All" and caption.startswith("6 row(s), 6 ranked")
    assert len(grid.value["data"]) == 6
    controls = ["real", "official", "upstream", "All", "All", "GA", "All", [], "rank"]
    out = tab["on_input"](*controls, None, False, "scores", "forget", "classification")
    assert out[4].startswith("1 row(s)") and out[12] == "q=upstream&method=GA"  # the URL of the view


def test_columns_every_row_shares_come_back_when_rows_differ():
    import pandas as pd

    from leaderboard.views import shared_values

    frame = pd.DataFrame({"base_model": ["a", "a"], "forget_ratio": [5, 10]})
    assert shared_values(frame) == {"base model": "a"}
    assert shared_values(frame.iloc[:1]) == {}  # one row: nothing to factor out
    assert shared_values(pd.DataFrame({"base_model": ["a", "b"], "forget_ratio": [5, 5]})) == {"forget split": "5 %"}
