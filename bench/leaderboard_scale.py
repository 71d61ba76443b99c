"""Scale benchmark: the leaderboard with 1,000 and 10,000 stored submissions, side by side.

    python bench/leaderboard_scale.py [--n 1000 --n 10000] [--browser]
    python bench/leaderboard_scale.py --n 10000 --db var/scale.sqlite --fill-only   # a store for the app

For each size, a fresh SQLite store (or ``--db``) is filled, outside the timing, with ``n`` approved
official submissions: a third report all 24 headline cells (so they are ranked), the rest a random
subset of the 48 cells (each present with probability 0.8). Then it times what a reader waits for:

* the table built once per store version (``Leaderboard.table``: bulk read, pivot, scores, ranks);
* the Leaderboard tab's real callback for a filter, a search, a sort and a page change (best and
  median of ``--repeat`` runs, on the cached table, as in the app);
* the bytes of the first page of rows the callback sends, and of the ``/leaderboard`` API's default page.

With ``--browser``, it also starts ``python app.py`` on the store and, in headless Chromium, measures
the time until the page's load event has run and the table shows, the bytes of the page's HTML and
data (Chrome's own counts; scripts, styles and fonts excluded), the server's start-up time and its
memory after 1, 11 and 31 visitors (each one waiting for the load event). Targets (issue 13):
callback under 200 ms, first page under 1 MB, table visible under 3 s, flat memory per visitor.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark.metrics import Unit, all_cell_keys  # noqa: E402
from benchmark.submission import Cell, Submission, SubmissionMetadata  # noqa: E402
from benchmark.vocabulary import Protocol  # noqa: E402
from leaderboard.ingest import ParsedUpload, SourceFormat  # noqa: E402
from leaderboard.service import Leaderboard, LeaderboardSettings  # noqa: E402
from leaderboard.sqlite_store import SQLiteStore  # noqa: E402
from leaderboard.store import Status  # noqa: E402

METHODS = ("vanilla", "GA", "GradDiff", "KL_Min", "NPO")
BASES = ("llava-hf/llava-1.5-7b-hf", "HuggingFaceM4/idefics2-8b")
CHROMIUM = "/usr/bin/chromium"


def fill(store: SQLiteStore, n: int, seed: int = 0) -> None:
    """``n`` approved official submissions with seeded random values."""
    rng = random.Random(seed)
    keys = all_cell_keys()
    now = datetime.now(UTC)
    for i in range(n):
        complete = i % 3 == 0
        cells = tuple(
            Cell(set=k.set, task=k.task, modality=k.modality, metric=k.metric, unit=k.unit,
                 value=rng.uniform(0, 100) if k.unit is Unit.PERCENT else rng.random())
            for k in keys
            if complete or rng.random() < 0.8
        )
        method = METHODS[i % len(METHODS)]
        sub = Submission(
            metadata=SubmissionMetadata(
                model_name=f"model-{i}", base_model=BASES[i % 2], method=method, forget_ratio=(5, 10, 15)[i % 3],
                unlearning_modality="none" if method == "vanilla" else ("multimodal", "text")[i % 2],
                protocol=Protocol.OFFICIAL, protocol_version="1", submitter=f"user-{i % 97}",
            ),
            cells=cells,
        )
        store.add(ParsedUpload(sub, SourceFormat.SUBMISSION, b"{}", f"bench-{seed}-{i}"), status=Status.APPROVED,
                  now=now)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best and median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times), statistics.median(times)


def server_side(path: Path, repeat: int) -> dict[str, Any]:
    """Table build, tab callbacks and payload sizes on the store at ``path``."""
    import gradio as gr

    from leaderboard.tab import build_leaderboard_tab
    from leaderboard.views import TableQuery, table_json, table_view

    settings = LeaderboardSettings(db_path=path, seed_references=False, seed_demo=False, rate_limit_count=0)
    out: dict[str, Any] = {}
    with Leaderboard(SQLiteStore(path), settings) as board:
        out["rows"] = len(board.table().frame)
        t0 = time.perf_counter()
        board._tables.clear()  # noqa: SLF001 - a cold build, as after a store change
        board.table()
        out["table build (once per change)"] = f"{(time.perf_counter() - t0) * 1000:.0f} ms"
        with gr.Blocks() as blocks:
            tab = build_leaderboard_tab(board, blocks)
        on_input = tab["on_input"]
        base = ["real", "official", "", "All", "All", "All", "All", [], "rank"]
        plots = [None, False, "scores", "forget", "classification"]
        cases = {
            "filter change": base[:5] + ["GA"] + base[6:],
            "search": base[:2] + ["model-12"] + base[3:],
            "sort by a cell": base[:8] + ["forget/generation/image_text/rougeL"],
            "column groups": base[:7] + [["forget", "details"]] + base[8:],
        }
        for name, controls in cases.items():
            best, median = timed(lambda c=controls: on_input(*c, *plots), repeat)
            out[f"callback: {name}"] = f"{best:.0f} / {median:.0f} ms"
        render = tab["render"]
        best, median = timed(lambda: render(TableQuery(page=7), None, False, "scores", "forget", "classification"),
                             repeat)
        out["callback: next page"] = f"{best:.0f} / {median:.0f} ms"
        page = table_view(board, TableQuery())
        out["rows sent per page"] = len(page.display)
        out["page of rows, JSON"] = f"{len(page.display.to_json(orient='split')) / 1024:.0f} KiB"
        api = table_json(board, TableQuery())
        out["/leaderboard default page"] = f"{len(json.dumps(api)) / 1024:.0f} KiB ({len(api['rows'])} rows)"
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def loaded(page: Any) -> None:
    """Wait until the page's load event has run (its caption counts the rows) and a row is on screen."""
    page.locator("#lb-count").get_by_text("row(s)").wait_for(timeout=120_000)
    page.locator("#lb-table [role=gridcell]").filter(has_text="model-").first.wait_for(timeout=60_000)


class DataBytes:
    """Bytes the browser received for the page's HTML and data (not scripts, styles or fonts), from Chrome."""

    KINDS = ("Document", "XHR", "Fetch", "EventSource")

    def __init__(self, page: Any) -> None:
        self.kind: dict[str, str] = {}
        self.received: dict[str, int] = {}
        session = page.context.new_cdp_session(page)
        session.send("Network.enable")
        session.on("Network.requestWillBeSent", lambda e: self.kind.__setitem__(e["requestId"], e.get("type", "")))
        session.on("Network.dataReceived", self._data)

    def _data(self, event: dict[str, Any]) -> None:
        self.received[event["requestId"]] = self.received.get(event["requestId"], 0) + event["dataLength"]

    @property
    def total(self) -> int:
        return sum(n for rid, n in self.received.items() if self.kind.get(rid) in self.KINDS)


def browser_side(path: Path) -> dict[str, Any]:
    """The app on the store in headless Chromium: start-up, first page bytes, table visible, memory."""
    import urllib.request

    from playwright.sync_api import sync_playwright

    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--db", str(path)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    out: dict[str, Any] = {}
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.2)
        out["server start-up"] = f"{time.perf_counter() - t0:.1f} s"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            data = DataBytes(page)
            t1 = time.perf_counter()
            page.goto(url)
            loaded(page)
            out["page loaded (table as the URL asks)"] = f"{time.perf_counter() - t1:.1f} s"
            out["first page: HTML + data"] = f"{data.total / 1024:.0f} KiB"
            page.close()
            memory = [_rss_mib(proc.pid)]
            for visitors in (10, 20):
                for _ in range(visitors):
                    extra = browser.new_page()
                    extra.goto(url)
                    loaded(extra)
                    extra.close()
                memory.append(_rss_mib(proc.pid))
            out["server memory, 1 / 11 / 31 visitors"] = " / ".join(f"{m:.0f}" for m in memory) + " MiB"
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/leaderboard_scale.py",
        description="Time the leaderboard with large stores (1,000 and 10,000 rows by default), side by side.",
    )
    parser.add_argument("--n", type=int, action="append", metavar="N",
                        help="rows to store; repeat for several sizes (default: 1000 and 10000)")
    parser.add_argument("--db", type=Path, metavar="PATH",
                        help="fill (if new) and use this store; only with one --n (default: a temporary file)")
    parser.add_argument("--fill-only", action="store_true", help="fill the store and stop (for the app to open)")
    parser.add_argument("--browser", action="store_true",
                        help="also start the app on each store and measure it in headless Chromium")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (default: 5)")
    args = parser.parse_args()
    sizes = args.n or [1000, 10_000]
    if args.db and len(sizes) > 1:
        parser.error("--db takes one --n")
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = args.db or Path(tmp) / f"scale-{n}.sqlite"
            store = SQLiteStore(path)
            if store.fresh:
                t0 = time.perf_counter()
                fill(store, n)
                print(f"filled {n:,} submissions into {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            store.close()
            if args.fill_only:
                continue
            results[n] = server_side(path, args.repeat)
            if args.browser:
                results[n] |= browser_side(path)
    if args.fill_only:
        return 0
    names = list(next(iter(results.values())))
    width = max(len(name) for name in names)
    print(f"{'':{width}}  " + "  ".join(f"{f'{n:,} rows':>22}" for n in sizes))
    for name in names:
        print(f"{name:{width}}  " + "  ".join(f"{results[n].get(name, ''):>22}" for n in sizes))
    print("(callbacks: best / median of", args.repeat, "runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
