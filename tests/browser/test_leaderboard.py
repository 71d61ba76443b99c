"""The Leaderboard tab in headless Chromium at 1,280 px and 390 px: boards, honest ranks, readable columns,
links that restore a view, empty states, pages, the changelog, CSV, and moderation."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from .test_app import choose, fill, open_tab, shoot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser, server):
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    pg.errors = errors  # type: ignore[attr-defined]
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def rows(page) -> list[str]:
    """The model names of the visible table rows (the column headed "Model")."""
    page.locator("#lb-table [role=gridcell]").first.wait_for()
    headers = [h.strip() for h in page.locator("#lb-table thead th").all_inner_texts()]
    column = next(i for i, h in enumerate(headers) if h.startswith("Model"))
    return [t.strip() for t in page.locator(f'#lb-table [role=gridcell][data-col="{column}"]').all_inner_texts()]


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def search(page, text: str) -> None:
    fill(page, "lb-search", text)
    page.locator("#lb-search textarea, #lb-search input").first.press("Enter")


def real_rows(server) -> int:
    """How many rows the real board has now (earlier tests may have approved one)."""
    from gradio_client import Client

    return int(Client(server["url"], verbose=False).predict(api_name="/leaderboard")["total"])


def open_link(page, url: str):
    """A new tab of the same browser on ``url``, recording page errors, once its load event has run."""
    tab = page.context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    tab.errors = errors  # type: ignore[attr-defined]
    tab.set_default_timeout(30_000)
    tab.goto(url)
    tab.locator("#lb-count").get_by_text("row(s)").wait_for()
    return tab


def no_page_overflow(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_real_rows_by_default_and_the_demo_board_one_click_away(page, server):
    count = page.locator("#lb-count")
    count.get_by_text(f"{real_rows(server)} row(s), 0 ranked").wait_for()  # none reports all 24 cells
    assert not any("demo" in name for name in rows(page))
    assert "ranked only with all 24 cells" in page.locator("#lb-score-line").inner_text()
    assert "sorted by Rank (combined score, intervals), best first" in count.inner_text()
    ranks = page.locator('#lb-table [role=gridcell][data-col="0"]').all_inner_texts()
    assert {r.strip() for r in ranks} == {"—"}
    headers = page.locator("#lb-table thead th").all_inner_texts()
    assert len(headers) == 11 and any("Forgetting ↑" in h.replace("\n", " ") for h in headers)
    assert "every row: base model" in count.inner_text()  # the shipped references share one base model
    # The default table fits a 1,280 px window: its last column ends inside the table's box.
    last = page.locator("#lb-table thead th").last.bounding_box()
    box = page.locator("#lb-table").bounding_box()
    assert last["x"] + last["width"] <= box["x"] + box["width"] + 1
    page.locator("#lb-board").get_by_text("Demo: toy models").click()
    count.get_by_text("6 row(s), 6 ranked").wait_for()
    banner = page.locator("#lb-demo-banner")
    assert banner.is_visible() and "toy models for trying the app" in banner.inner_text()
    assert sorted(rows(page)) == ["demo-ga", "demo-graddiff", "demo-npo", "demo-prompting", "demo-retain",
                                  "demo-vanilla"]
    page.wait_for_function("() => location.search.includes('board=demo')")
    shoot(page, "leaderboard-demo")
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_link_restores_the_view_and_the_selected_row(page, server):
    page = open_link(page, server["url"] + "?board=demo&sort=forget_score&cols=forget,details&q=npo")
    page.locator("#lb-count").get_by_text("1 row(s), 1 ranked").wait_for()
    assert rows(page) == ["demo-npo"]
    assert page.locator("#lb-search textarea, #lb-search input").first.input_value() == "npo"
    assert "Forget score" in page.locator("#lb-sort input").input_value()
    assert page.locator("#lb-groups input[type=checkbox]:checked").count() == 2
    assert "sorted by Forget score, best first" in page.locator("#lb-count").inner_text()
    headers = " ".join(page.locator("#lb-table thead th").all_inner_texts())
    assert "Forget · Gen · img+text · ROUGE-L ↓" in headers.replace("\n", " ")
    # Select the row: its details appear and the link names it.
    cell = page.locator('#lb-table [role=gridcell]').filter(has_text="demo-npo").first
    for event in ("mousedown", "mouseup", "click"):  # the sticky header covers the cell for a real click
        cell.dispatch_event(event)
    details = page.locator("#lb-details .lb-details")
    details.wait_for()
    row_id = details.get_attribute("data-id")
    page.wait_for_function(f"() => location.search.includes('row={row_id}')")
    page.locator("#lb-copy").click()
    link = page.locator("#lb-link textarea, #lb-link input").first
    page.wait_for_function("() => { const e = document.querySelector('#lb-link textarea, #lb-link input'); "
                           "return e && e.value.includes('board=demo'); }")
    shared = link.input_value()
    assert parse_qs(urlparse(shared).query)["row"] == [row_id]
    assert page.errors == []  # type: ignore[attr-defined]
    # A new reader opening the link sees the same view and the same row.
    reader = open_link(page, shared)
    reader.locator("#lb-details .lb-details").wait_for()
    assert reader.locator("#lb-details .lb-details").get_attribute("data-id") == row_id
    assert reader.locator("#lb-count").get_by_text("1 row(s)").is_visible()


def test_empty_state_and_clearing_filters(page, server):
    total = real_rows(server)
    search(page, "no such model anywhere")
    empty = page.locator("#lb-empty")
    empty.get_by_text("No row matches these filters").wait_for()
    assert page.locator("#lb-clear").is_visible()
    page.locator("#lb-clear").click()
    page.locator("#lb-count").get_by_text(f"{total} row(s)").wait_for()
    assert page.locator("#lb-search textarea, #lb-search input").first.input_value() == ""
    assert not page.locator("#lb-clear").is_visible()
    page.wait_for_function("() => !location.search.includes('q=')")


def test_changelog_and_csv(page):
    page.get_by_role("tab", name="Changelog").click()
    page.wait_for_function("() => document.querySelectorAll('#lb-changelog [role=gridcell]').length > 0 "
                           "|| document.querySelector('#lb-log-note').innerText.includes('No approval')")
    open_tab(page, "Leaderboard")
    page.get_by_role("tab", name="Table").click()
    page.locator("#lb-csv").click()
    link = page.locator("#lb-csv-file a").first
    link.wait_for()
    assert "mllmu-leaderboard-real-official.csv" in (link.get_attribute("href") or "")


def test_phone_width_is_usable(phone, server):
    phone.goto(server["url"] + "?row=1")
    phone.locator("#lb-details .lb-details").wait_for()
    assert no_page_overflow(phone) and phone.locator("#lb-details").evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    phone.goto(server["url"] + "?board=demo&row=1")  # a reference row is not on the demo board
    phone.locator("#lb-details").get_by_text("No row #1 on this board").wait_for()
    phone.locator("#lb-count").get_by_text("6 row(s)").wait_for()
    phone.locator("#lb-details").wait_for()
    assert no_page_overflow(phone)  # the page never scrolls sideways; the table scrolls inside its box
    details = phone.locator("#lb-details")
    assert details.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    phone.goto(server["url"] + "?board=demo")
    cell = phone.locator('#lb-table [role=gridcell]').filter(has_text="demo-ga").first
    for event in ("mousedown", "mouseup", "click"):
        cell.dispatch_event(event)
    phone.locator("#lb-details .lb-details").wait_for()
    assert no_page_overflow(phone)
    assert phone.locator("#lb-details .lb-cells").first.evaluate("e => e.getBoundingClientRect().right <= 390")
    shoot(phone, "leaderboard-phone")
    assert phone.errors == []  # type: ignore[attr-defined]


def test_moderation_fills_the_id_shows_values_and_refuses_a_second_approval(page, server, official_fixture, tmp_path):
    import json

    doc = json.loads(official_fixture.read_text())
    doc["Forget Set Results"]["classification"]["Pure Text Question Accuracy"] = 12.5  # cells of its own
    upload = tmp_path / "moderated_final_evaluation_results.json"
    upload.write_text(json.dumps(doc))
    open_tab(page, "Submit")
    page.locator("#submit-results input[type=file]").set_input_files(str(upload))
    fill(page, "submit-model-name", "Moderated fixture")
    fill(page, "submit-method", "GA")
    fill(page, "submit-submitter", "browser-moderation")
    page.locator("#submit-preview").click()
    status = page.locator("#submit-status")
    status.get_by_text("Not accepted").wait_for()  # nothing is assumed: base model and forget ratio are required
    text = status.inner_text()
    assert "Base model" in text and "Forget ratio" in text
    choose(page, "submit-base-model", "llava-hf/llava-1.5-7b-hf")
    choose(page, "submit-forget-ratio", "5")
    page.locator("#submit-confirm").click()
    status.get_by_text("Submitted as #").wait_for()
    page.locator("#moderation").get_by_text("Moderation (admins)").click()
    fill(page, "mod-token", server["token"])
    page.locator("#mod-unlock").click()
    page.locator("#mod-status").get_by_text("pending submission(s)").wait_for()
    header = " ".join(page.locator("#mod-pending thead th").all_inner_texts()).replace("\n", " ")
    assert "Forget ↓ (Δ vanilla)" in header
    cell = page.locator("#mod-pending [role=gridcell]").filter(has_text="Moderated fixture").first
    cell.wait_for()
    for event in ("mousedown", "mouseup", "click"):
        cell.dispatch_event(event)
    page.wait_for_function("() => Number(document.querySelector('#mod-id input').value) > 0")
    page.locator("#mod-approve").click()
    page.locator("#mod-status").get_by_text("approved").wait_for()
    page.locator("#mod-approve").click()
    page.locator("#mod-status").get_by_text("already approved").wait_for()
    open_tab(page, "Leaderboard")
    page.get_by_role("tab", name="Changelog").click()
    page.locator("#lb-changelog [role=gridcell]").filter(has_text="Moderated fixture").first.wait_for()
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_demo_board_shows_robustness_columns(page, phone, server):
    """demo-ga's robustness file gives values; a row without one reads "not measured", never 0 or blank."""
    page = open_link(page, server["url"] + "?board=demo&cols=robustness")
    page.locator("#lb-count").get_by_text("6 row(s)").wait_for()
    headers = [h.replace("\n", " ").strip() for h in page.locator("#lb-table thead th").all_inner_texts()]
    names = rows(page)
    for label in ("Forget under strongest attack ↓", "Recovery · any attack ↓", "Recovery · relearning ↓"):
        column = next(i for i, h in enumerate(headers) if h.startswith(label))
        cells = [t.strip() for t in
                 page.locator(f'#lb-table [role=gridcell][data-col="{column}"]').all_inner_texts()]
        by_name = dict(zip(names, cells, strict=True))
        assert by_name["demo-ga"].replace(".", "", 1).lstrip("-").isdigit(), by_name
        assert all(v and v != "0" for v in cells)  # measured values or "not measured", never blank
    # A row without a robustness file: the real board's rows (with the group shown).
    real = open_link(page, server["url"] + "?cols=robustness")
    real_headers = [h.replace("\n", " ").strip() for h in real.locator("#lb-table thead th").all_inner_texts()]
    column = next(i for i, h in enumerate(real_headers) if h.startswith("Forget under strongest attack"))
    cells = {t.strip() for t in real.locator(f'#lb-table [role=gridcell][data-col="{column}"]').all_inner_texts()}
    assert cells == {"not measured"}
    # Without the group, the demo board still shows the worst case and the highest recovery.
    default = open_link(page, server["url"] + "?board=demo")
    default_headers = " ".join(default.locator("#lb-table thead th").all_inner_texts()).replace("\n", " ")
    assert "Forget under strongest attack ↓" in default_headers and "Recovery · any attack ↓" in default_headers
    last = default.locator("#lb-table thead th").last.bounding_box()
    box = default.locator("#lb-table").bounding_box()
    assert last["x"] + last["width"] <= box["x"] + box["width"] + 1  # they fit a 1,280 px window
    shoot(default, "leaderboard-robustness")
    phone.goto(server["url"] + "?board=demo")
    phone.locator("#lb-count").get_by_text("6 row(s)").wait_for()
    assert no_page_overflow(phone)
    shoot(phone, "leaderboard-robustness-phone")
    assert page.errors == [] and default.errors == []  # type: ignore[attr-defined]
