"""Hub-dataset persistence at scale: mirror N rows to a dataset folder, then rebuild the store from it.

    python bench/hub_rebuild.py [--n 1000] [--repeat 3]

Fills a mirrored store (``leaderboard.hub_sync``, a local folder standing in for the Hub dataset, pushes
inline) with ``bench/leaderboard_scale.py``'s generator: ``n`` approved official submissions. Then it
times, best of ``--repeat``:

* a restart on a wiped disk: ``open_mirrored`` with no SQLite file and no local folder (copy the dataset's
  files, read and check every document, rebuild the SQLite store);
* a restart with the documents already local (only the SQLite file lost): read and rebuild;
* a restart with both intact (the documents read and compared with the cache; nothing rebuilt);

and checks that each rebuilt board's ``/leaderboard`` answer equals the original's. The Hub's download
time (``snapshot_download``) is not included: it depends on the network.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from leaderboard_scale import fill  # noqa: E402

from leaderboard.hub_sync import FolderRemote, open_mirrored  # noqa: E402
from leaderboard.service import Leaderboard, LeaderboardSettings  # noqa: E402
from leaderboard.views import TableQuery, table_json  # noqa: E402

SETTINGS = {"seed_references": False, "seed_demo": False, "rate_limit_count": 0}


def main() -> None:
    """Fill, then time the three restarts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="rows to mirror (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed restarts of each kind (default 3; best shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        remote = FolderRemote(root / "dataset")
        db, cache = root / "lb.sqlite", root / "lb.hub"
        t0 = time.perf_counter()
        store = open_mirrored(db, remote, folder=cache, background=False)
        with Leaderboard(store, LeaderboardSettings(db_path=db, **SETTINGS)) as board:
            fill(store, args.n)
            fill_s = time.perf_counter() - t0
            expected = table_json(board, TableQuery(), limit=1000)
            events = len(store.events(limit=1 << 30))
        files = [p for p in remote.root.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        print(f"rows mirrored: {args.n} ({events} events) in {fill_s:.1f} s, {fill_s / args.n * 1000:.1f} ms per "
              f"write (SQLite commit + documents + push to the folder)")
        print(f"dataset: {len(files)} files, {size / 2**20:.1f} MiB")
        cases = {"wiped disk (copy + read + rebuild)": (True, True),
                 "SQLite lost (read + rebuild)": (True, False),
                 "both intact (read + compare)": (False, False)}
        for name, (lose_db, lose_cache) in cases.items():
            best = float("inf")
            for _ in range(args.repeat):
                if lose_db:
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{db}{suffix}").unlink(missing_ok=True)
                if lose_cache:
                    shutil.rmtree(cache, ignore_errors=True)
                t0 = time.perf_counter()
                store = open_mirrored(db, remote, folder=cache, background=False)
                best = min(best, time.perf_counter() - t0)
                with Leaderboard(store, LeaderboardSettings(db_path=db, **SETTINGS)) as board:
                    same = table_json(board, TableQuery(), limit=1000) == expected
                    rows = len(board.submissions())
                if not same or rows != args.n:
                    raise SystemExit(f"{name}: the rebuilt board differs ({rows} rows)")
            print(f"restart, {name}: {best:.2f} s for {args.n} rows (best of {args.repeat}; board identical)")


if __name__ == "__main__":
    main()
