"""The app in headless Chromium: tabs, filtering, submitting and approving the official fixture, a probe."""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to a temporary folder; set MLLMU_SCREENSHOTS=docs/screenshots to refresh the README's.
SHOTS = Path(os.environ.get("MLLMU_SCREENSHOTS") or Path(tempfile.gettempdir()) / "mllmu-screenshots")


def shoot(page, name: str) -> None:
    """A full-page PNG, palette-quantised to stay small (the README shows them)."""
    from PIL import Image

    raw = page.screenshot(full_page=True)
    with Image.open(io.BytesIO(raw)) as img:
        SHOTS.mkdir(parents=True, exist_ok=True)
        img.convert("RGB").quantize(colors=128).save(SHOTS / f"{name}.png", optimize=True)


def open_tab(page, name: str) -> None:
    """Open a top-level tab; on a narrow page the ones that do not fit are behind Gradio's "More tabs" menu."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.get_by_role("button", name="More tabs").first.click()
    page.locator(".overflow-dropdown button, [class*=overflow] button", has_text=re.compile(f"^{re.escape(name)}$")
                 ).first.click()


def fill(page, elem_id: str, value: str) -> None:
    page.locator(f"#{elem_id} textarea, #{elem_id} input").first.fill(value)


def choose(page, elem_id: str, value: str) -> None:
    """Pick ``value`` in a Gradio dropdown (clicking its option, or typing it when it is a custom value)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator(f"#{elem_id} input")
    box.click()
    option = page.get_by_role("option", name=value, exact=True).first
    try:
        option.wait_for(timeout=3000)
        option.click()
    except PlaywrightTimeout:  # not one of the choices: a custom value
        box.fill(value)
        box.press("Enter")
    box.blur()
    page.wait_for_function(f"() => document.querySelector('#{elem_id} input').value === {value!r}")


def api_rows(server) -> list[dict]:
    """The approved rows, through the ``leaderboard`` API endpoint."""
    from gradio_client import Client

    return Client(server["url"], verbose=False).predict(api_name="/leaderboard")["rows"]


def test_tabs_render_and_the_table_filters(page):
    from leaderboard.references import REFERENCES
    from leaderboard.service import DEMO_RESULTS

    # A fresh store holds the community-reported reference rows; the demo rows have their own board.
    seeded = len(REFERENCES)
    assert len(list(DEMO_RESULTS.glob("*.submission.json"))) == 6
    for name in ("Leaderboard", "Submit", "Probe", "About"):
        expect_tab = page.get_by_role("tab", name=name)
        assert expect_tab.is_visible()
    count = page.locator("#lb-count")
    count.get_by_text(f"{seeded} row(s)").wait_for()
    table = page.locator("#lb-table")
    assert table.get_by_text("NPO (upstream issue #20 re-run)").first.is_visible()
    shoot(page, "leaderboard")
    fill(page, "lb-search", "npo")
    page.locator("#lb-search textarea, #lb-search input").first.press("Enter")
    count.get_by_text("1 row(s)").wait_for()  # the issue #20 NPO row (demo-npo is on the demo board)
    assert table.get_by_text("GradDiff").count() == 0
    assert table.get_by_text("demo-vanilla").count() == 0
    fill(page, "lb-search", "")
    page.locator("#lb-search textarea, #lb-search input").first.press("Enter")
    count.get_by_text(f"{seeded} row(s)").wait_for()
    fill(page, "lb-search", "upstream")  # the reference rows only
    page.locator("#lb-search textarea, #lb-search input").first.press("Enter")
    count.get_by_text(f"{len(REFERENCES)} row(s)").wait_for()
    cell = table.locator('[role=gridcell][data-col="2"]').filter(has_text=re.compile(r"^\s*GA\s*$")).first
    for event in ("mousedown", "mouseup", "click"):  # the grid's sticky header covers the cell for a real click
        cell.dispatch_event(event)
    page.locator("#lb-details").get_by_text("LLaVA-1.5-7B GA (upstream issue #20 re-run)").wait_for()
    assert "95 % CI" in page.locator("#lb-details").inner_text()
    assert "community-reported reference" in page.locator("#lb-details").inner_text()
    assert "issues/20" in page.locator("#lb-details").inner_html()
    open_tab(page, "About")
    page.locator("#about-text").get_by_text("The four sets, and which way is good").wait_for()
    shoot(page, "about")
    assert page.errors == []  # type: ignore[attr-defined]


def test_malformed_upload_shows_errors_and_changes_nothing(page, server, tmp_path):
    before = api_rows(server)
    bad = tmp_path / "broken_final_evaluation_results.json"
    bad.write_text('{"Forget Set Results": {"classification": {"Pure Text Question Acuracy": 140}}}')
    open_tab(page, "Submit")
    page.locator("#submit-results input[type=file]").set_input_files(str(bad))
    fill(page, "submit-model-name", "Broken model")
    page.locator("#submit-confirm").click()
    status = page.locator("#submit-status")
    status.get_by_text("Not accepted").wait_for()
    text = status.inner_text()
    assert "Acuracy" in text and "nothing was stored" in text
    assert api_rows(server) == before
    assert page.errors == []  # type: ignore[attr-defined]


def test_submit_the_official_fixture_and_see_it_after_approval(page, server, official_fixture):
    name = "Browser fixture vanilla"
    open_tab(page, "Submit")
    page.locator("#submit-results input[type=file]").set_input_files(str(official_fixture))
    fill(page, "submit-model-name", name)
    choose(page, "submit-base-model", "llava-hf/llava-1.5-7b-hf")
    choose(page, "submit-forget-ratio", "5")
    fill(page, "submit-method", "vanilla")
    fill(page, "submit-submitter", "browser-test")
    page.locator("#submit-preview").click()
    status = page.locator("#submit-status")
    status.get_by_text(re.compile("Valid|Not accepted")).wait_for()
    assert "Valid." in status.inner_text(), status.inner_text()
    assert "12 cell(s)" in status.inner_text()
    assert page.locator('#submit-cells [role=gridcell][data-col="0"]').count() == 12
    page.locator("#submit-confirm").click()
    status.get_by_text("Submitted as #").wait_for()
    new_id = int(re.search(r"#(\d+)", status.inner_text()).group(1))
    assert name not in [r["model_name"] for r in api_rows(server)]  # pending
    page.locator("#moderation").get_by_text("Moderation (admins)").click()
    fill(page, "mod-token", server["token"])
    page.locator("#mod-unlock").click()
    page.locator("#mod-status").get_by_text("pending submission(s)").wait_for()
    page.locator("#mod-pending [role=gridcell]").filter(has_text=name).first.wait_for()
    fill(page, "mod-id", str(new_id))
    page.locator("#mod-approve").click()
    page.locator("#mod-status").get_by_text("approved").wait_for()
    shoot(page, "submit")
    open_tab(page, "Leaderboard")
    fill(page, "lb-search", "browser fixture")
    page.locator("#lb-search textarea, #lb-search input").first.press("Enter")
    page.locator("#lb-count").get_by_text("1 row(s)").wait_for()
    page.locator("#lb-table [role=gridcell]").filter(has_text=name).first.wait_for()
    assert page.errors == []  # type: ignore[attr-defined]


def test_probe_a_forget_set_person(page):
    open_tab(page, "Probe")
    person = page.locator("#probe-person input")
    page.wait_for_function("() => document.querySelectorAll('#probe-gallery img').length >= 4")
    page.locator("#probe-gallery img").nth(1).click()
    page.wait_for_function("() => (document.querySelector('#probe-person input')||{}).value?.includes('(')")
    chosen = person.input_value()
    page.locator("#probe-run").click()
    page.locator("#probe-status").get_by_text(re.compile(r"Done: \d+ question")).wait_for(timeout=90_000)
    answers = page.locator("#probe-answers td.probe-answer")
    assert answers.count() >= 2 and answers.count() % 2 == 0
    assert page.locator('#probe-answers td.probe-answer[data-side="left"]').count() == answers.count() // 2
    assert page.locator('#probe-answers td.probe-answer[data-done="true"]').count() == answers.count()
    assert page.locator("#probe-answers .probe-badge").count() == answers.count()  # a marker on every answer
    assert re.search(r"MC \d/\d vs \d/\d", page.locator("#probe-summary").inner_text())
    assert "(" in chosen
    shoot(page, "probe")
    assert page.errors == []  # type: ignore[attr-defined]
