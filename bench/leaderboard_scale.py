"""Scale benchmark: the leaderboard table and its three plots from 10,000 stored submissions.

    python bench/leaderboard_scale.py [--n 10000] [--db PATH] [--metrics primary|all]

Fills a fresh SQLite store (outside the timing) with ``n`` approved official
submissions, each with a random subset of the 48 possible cells (every one
present with probability 0.8, so partial rows are exercised), then times
``Leaderboard.table()`` (bulk read + pivot + scores + ranking), the three
figures, and their serialisation to JSON. Target: table + plots under 1 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.metrics import Unit, all_cell_keys  # noqa: E402
from benchmark.submission import Cell, Submission, SubmissionMetadata  # noqa: E402
from benchmark.vocabulary import EvalSet, Modality, Protocol, Task  # noqa: E402
from leaderboard.ingest import ParsedUpload, SourceFormat  # noqa: E402
from leaderboard.plots import modality_comparison, set_bars, tradeoff_scatter  # noqa: E402
from leaderboard.service import Leaderboard, LeaderboardSettings  # noqa: E402
from leaderboard.sqlite_store import SQLiteStore  # noqa: E402
from leaderboard.store import Status  # noqa: E402

METHODS = ("vanilla", "GA", "GradDiff", "KL_Min", "NPO")
BASES = ("llava-hf/llava-1.5-7b-hf", "HuggingFaceM4/idefics2-8b")


def fill(store: SQLiteStore, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    keys = all_cell_keys()
    now = datetime.now(UTC)
    for i in range(n):
        cells = tuple(
            Cell(
                set=k.set, task=k.task, modality=k.modality, metric=k.metric, unit=k.unit,
                value=rng.uniform(0, 100) if k.unit is Unit.PERCENT else rng.random(),
            )
            for k in keys
            if rng.random() < 0.8
        )  # fmt: skip
        method = METHODS[i % len(METHODS)]
        sub = Submission(
            metadata=SubmissionMetadata(
                model_name=f"model-{i}", base_model=BASES[i % 2], method=method, forget_ratio=(5, 10, 15)[i % 3],
                unlearning_modality="none" if method == "vanilla" else ("multimodal", "text")[i % 2],
                protocol=Protocol.OFFICIAL, protocol_version="1", submitter=f"user-{i % 97}",
            ),
            cells=cells,
        )  # fmt: skip
        upload = ParsedUpload(sub, SourceFormat.SUBMISSION, b"{}", f"bench-{seed}-{i}")
        store.add(upload, status=Status.APPROVED, now=now)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--db", type=Path, help="reuse or create this store (default: a temp file)")
    parser.add_argument("--metrics", choices=("primary", "all"), default="primary")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "scale.sqlite"
        settings = LeaderboardSettings(db_path=path, seed_references=False, rate_limit_count=0)
        store = SQLiteStore(path)
        if store.fresh:
            t0 = time.perf_counter()
            fill(store, args.n)
            print(f"filled {args.n} submissions in {time.perf_counter() - t0:.1f} s (not timed below)")
        board = Leaderboard(store, settings)
        timings: dict[str, list[float]] = {"table": [], "plots": [], "to_json": []}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            table = board.table(Protocol.OFFICIAL, metrics=args.metrics)
            t1 = time.perf_counter()
            figs = [
                tradeoff_scatter(table, Task.GENERATION, Modality.IMAGE_TEXT),
                set_bars(table, list(table.frame.index[:10]), Task.CLASSIFICATION, Modality.IMAGE_TEXT),
                modality_comparison(table, EvalSet.FORGET, Task.CLOZE),
            ]
            t2 = time.perf_counter()
            for fig in figs:
                fig.to_json()
            t3 = time.perf_counter()
            timings["table"].append(t1 - t0)
            timings["plots"].append(t2 - t1)
            timings["to_json"].append(t3 - t2)
        board.close()
        rows = len(table.frame)
        best = {k: min(v) for k, v in timings.items()}
        total = best["table"] + best["plots"]
        print(f"rows={rows} columns={len(table.columns)} (metrics={args.metrics}), best of {args.repeat}:")
        print(f"  table  {best['table'] * 1000:7.1f} ms")
        print(f"  plots  {best['plots'] * 1000:7.1f} ms  (3 figures built)")
        print(f"  json   {best['to_json'] * 1000:7.1f} ms  (3 figures serialised)")
        print(f"  table + plots = {total * 1000:.1f} ms ({'under' if total < 1 else 'OVER'} the 1 s target)")
        print(f"  table + plots + json = {(total + best['to_json']) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
