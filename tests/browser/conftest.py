"""A real app process on a free 127.0.0.1 port (temp store, demo data, the real tiny demo model) and Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "browser-admin-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """``python app.py`` as a user starts it, with flags; killed at the end (and by ``timeout`` in any case)."""
    folder = tmp_path_factory.mktemp("browser")
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "MLLMU_ADMIN_TOKEN": TOKEN}
    log = (folder / "server.log").open("w")
    cmd = ["timeout", "600", sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port),
           "--db", str(folder / "lb.sqlite"), "--max-new-tokens", "24", "--answer-time-limit", "30"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the app did not start:\n" + (folder / "server.log").read_text()[-3000:])
            time.sleep(0.5)
    yield {"url": url, "token": TOKEN, "db": folder / "lb.sqlite", "log": folder / "server.log"}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; `apt-get install -y chromium` (.ci/run does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A fresh page on the app that records console errors and uncaught exceptions."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    pg.errors = errors  # type: ignore[attr-defined]
    pg.set_default_timeout(30_000)
    pg.goto(server["url"])
    pg.get_by_role("tab", name="Leaderboard").wait_for()
    pg.locator("#lb-count").get_by_text("row(s)").wait_for()  # the load event has filled the page
    yield pg
    context.close()
