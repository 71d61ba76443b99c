"""The Probe tab in headless Chromium with the real tiny demo models, at 1,280 px and 390 px: verdicts relative
to the reference, the summary, the demo banner, and a Stop that always stops."""

from __future__ import annotations

import random
import re
import time

import pytest

from .test_app import choose, open_tab, shoot
from .test_leaderboard import no_page_overflow

pytestmark = pytest.mark.browser

VERDICTS = {"forgotten", "still known", "never known", "damaged", "kept"}


def start(page) -> None:
    """Press Run probe and wait until this run shows (the status of the previous one may read the same)."""
    page.locator("#probe-run").click()
    page.locator("#probe-status").get_by_text(re.compile(r"Answering|Loading")).wait_for(timeout=30_000)


def run_and_wait(page, timeout_ms: int = 120_000) -> None:
    start(page)
    page.locator("#probe-status").get_by_text(re.compile(r"Done: \d+ question|Stopped\.")).wait_for(
        timeout=timeout_ms)


def markers(page, side: str) -> list[str]:
    return [m.get_attribute("data-marker") or "" for m in
            page.locator(f'#probe-answers td.probe-answer[data-side="{side}"] .probe-badge').all()]


def test_verdicts_are_relative_and_the_same_model_never_forgets(page):
    open_tab(page, "Probe")
    banner = page.locator("#probe-demo-banner")
    banner.get_by_text("Demo models: toys for trying the app").wait_for()  # demo-vanilla vs demo-npo by default
    page.locator("#probe-person input").wait_for()
    page.wait_for_function("() => (document.querySelector('#probe-person input')||{}).value?.includes('(')")
    run_and_wait(page)
    left, right = markers(page, "left"), markers(page, "right")
    assert left and set(left) <= {"knows", "does not know"}
    assert len(right) == len(left) and set(right) <= VERDICTS
    summary = page.locator("#probe-summary").inner_text()
    assert re.search(r"forgot \d+ of the \d+ facts the reference knew", summary) and "MC" in summary
    # The reference against itself: nothing is ever "forgotten".
    choose(page, "probe-right", "demo-vanilla")
    run_and_wait(page)
    assert "forgotten" not in markers(page, "right") and set(markers(page, "right")) <= {"still known", "never known"}
    assert "forgot 0 of the" in page.locator("#probe-summary").inner_text()
    page.locator("#probe-legend").get_by_text("What the verdicts mean").click()
    page.locator("#probe-legend").get_by_text("collateral loss").wait_for()
    shoot(page, "probe-verdicts")
    assert page.errors == []  # type: ignore[attr-defined]


def test_stop_always_stops_cleanly(page):
    """Ten stops at seeded random moments: each ends within about a second, in "Stopped." (or "Done" when the
    probe finished first), with no answer left waiting; the next probe then runs normally."""
    rng = random.Random(13)
    open_tab(page, "Probe")
    page.wait_for_function("() => (document.querySelector('#probe-person input')||{}).value?.includes('(')")
    # The untrained demo-base never stops early: 18 questions x 2 answers of 24 tokens take about 2.5 s here.
    choose(page, "probe-left", "demo-base")
    choose(page, "probe-right", "demo-base")
    page.locator("#probe-modality").get_by_text("Both").click()
    stopped = 0
    for _ in range(10):
        start(page)
        page.wait_for_timeout(rng.uniform(0, 1000))
        clicked = time.monotonic()
        page.locator("#probe-stop").click()
        status = page.locator("#probe-status")
        status.get_by_text(re.compile(r"Stopped\.|Done: \d+ question")).wait_for(timeout=5_000)
        took = time.monotonic() - clicked
        text = status.inner_text()
        stopped += "Stopped." in text
        assert took < 2.5, f"stop took {took:.1f} s"
        page.wait_for_timeout(300)  # a late message would show here
        assert status.inner_text() == text  # nothing overwrote the final status
        assert page.locator('#probe-answers .probe-badge[data-marker="pending"]').count() == 0
        assert page.locator('#probe-answers .probe-badge[data-marker="error"]').count() == 0
    assert stopped >= 7  # most stops land while the probe runs (the seeded delays are shorter than a probe)
    run_and_wait(page)
    assert "Done" in page.locator("#probe-status").inner_text()
    assert page.errors == []  # type: ignore[attr-defined]


def test_probe_at_phone_width(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(server["url"])
    page.locator("#lb-count").get_by_text("row(s)").wait_for()
    open_tab(page, "Probe")
    page.locator("#probe-demo-banner").get_by_text("Demo models").wait_for()
    page.wait_for_function("() => (document.querySelector('#probe-person input')||{}).value?.includes('(')")
    run_and_wait(page)
    assert re.search(r"forgot \d+ of the \d+ facts", page.locator("#probe-summary").inner_text())
    assert set(markers(page, "right")) <= VERDICTS and markers(page, "right")
    start(page)  # and a stop at phone width
    page.locator("#probe-stop").click()
    page.locator("#probe-status").get_by_text(re.compile(r"Stopped\.|Done: \d+ question")).wait_for(timeout=5_000)
    assert page.locator('#probe-answers .probe-badge[data-marker="pending"]').count() == 0
    assert no_page_overflow(page)
    table = page.locator("#probe-answers")
    assert table.evaluate("e => e.getBoundingClientRect().right <= 390")
    img = page.locator("#probe-gallery img").first
    assert img.evaluate("e => getComputedStyle(e).objectFit") == "contain"  # portraits whole, not cropped
    shoot(page, "probe-phone")
    context.close()


def test_attack_panel_shows_both_models_under_an_attack(page):
    """A prompt attack (the attacked prompt behind a toggle), a portrait attack (thumbnails; text questions say
    they are unchanged) and 4-bit loading (each side's precision), each with verdicts on both sides."""
    open_tab(page, "Probe")
    page.wait_for_function("() => (document.querySelector('#probe-person input')||{}).value?.includes('(')")
    note = page.locator("#probe-attack-note")
    note.get_by_text("The official prompts and portraits").wait_for()
    choose(page, "probe-attack", "Prompt · prefilled answer")
    note.get_by_text("compliant phrase").wait_for()
    run_and_wait(page)
    panel = page.locator("#probe-attack-info")
    assert "Attack: Prompt · prefilled answer." in panel.inner_text() and "9 of 9 changed" in panel.inner_text()
    left, right = markers(page, "left"), markers(page, "right")
    assert len(left) == len(right) == 9 and set(left) <= {"knows", "does not know"} and set(right) <= VERDICTS
    assert page.locator('#probe-answers [data-attack="changed"]').count() == 9
    prompt = page.locator("#probe-answers details.probe-prompt").first
    assert not prompt.locator("pre").is_visible()  # collapsed until asked for
    prompt.locator("summary").click()
    assert prompt.locator("pre").inner_text().endswith("ASSISTANT: Sure, the answer is")
    assert page.locator("#probe-summary").inner_text().startswith("Under the attack Prompt · prefilled answer")

    page.locator("#probe-modality").get_by_text("Both").click()
    choose(page, "probe-attack", "Image · grayscale")
    note.get_by_text("The portrait in grayscale.").wait_for()
    run_and_wait(page)
    assert "9 of 18 changed" in panel.inner_text()
    assert page.locator("#probe-answers img.probe-thumb").count() == 9
    unchanged = page.locator('#probe-answers [data-attack="unchanged"]')
    assert unchanged.count() == 9 and unchanged.first.inner_text() == "not changed by this attack"
    assert len(markers(page, "right")) == 18 and set(markers(page, "right")) <= VERDICTS
    shoot(page, "probe-attack")

    choose(page, "probe-attack", "Precision · 4-bit nf4")
    run_and_wait(page)
    assert re.search(r"demo-vanilla: 4-bit nf4 · demo-npo: 4-bit nf4", panel.inner_text())
    assert "demo-npo · 4-bit nf4" in page.locator("#probe-answers thead").inner_text()
    assert set(markers(page, "right")) <= VERDICTS and len(markers(page, "right")) == 18
    assert page.errors == []  # type: ignore[attr-defined]


def test_attack_panel_at_phone_width(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(server["url"])
    page.locator("#lb-count").get_by_text("row(s)").wait_for()
    open_tab(page, "Probe")
    page.wait_for_function("() => (document.querySelector('#probe-person input')||{}).value?.includes('(')")
    choose(page, "probe-attack", "Modality · name for portrait")
    page.locator("#probe-attack-note").get_by_text("in place of the portrait").wait_for()
    run_and_wait(page)
    assert "Attack: Modality · name for portrait." in page.locator("#probe-attack-info").inner_text()
    assert set(markers(page, "right")) <= VERDICTS and markers(page, "right")
    page.locator("#probe-answers details.probe-prompt summary").first.click()
    assert "This person is " in page.locator("#probe-answers details.probe-prompt pre").first.inner_text()
    assert no_page_overflow(page)
    assert page.locator("#probe-answers").evaluate("e => e.getBoundingClientRect().right <= 390")
    shoot(page, "probe-attack-phone")
    context.close()
