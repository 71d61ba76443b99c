"""Official results at another precision than upstream's are a visible variant on the board."""

from __future__ import annotations

import sqlite3

import pytest

from benchmark.submission import Provenance, dump_submission, precision_variant
from leaderboard import sqlite_store
from leaderboard.service import Leaderboard, LeaderboardSettings
from leaderboard.store import Status
from leaderboard.views import TableQuery, table_json, table_view

from ..conftest import make_submission


def provenance(quantization: str = "none", dtype: str | None = None) -> Provenance:
    return Provenance(model_id="m", quantization=quantization, dtype=dtype, protocol="official", protocol_version="1")


@pytest.mark.parametrize(("quantization", "dtype", "variant"), [
    ("none", "float16", None), ("none", "float32", None), ("none", None, None),  # upstream's, or finer
    ("4bit-nf4", "bfloat16", "4-bit nf4"), ("8bit", "float32", "8-bit"), ("none", "bfloat16", "bfloat16"),
])
def test_precision_variant_names_what_differs_from_upstream(quantization, dtype, variant):
    assert precision_variant(provenance(quantization, dtype)) == variant
    assert precision_variant(None) is None  # upstream files carry no provenance: upstream's own precision


def submitted(name: str, quantization: str) -> bytes:
    sub = make_submission(model_name=name, protocol="official")
    sub = sub.model_copy(update={"provenance": sub.provenance.model_copy(update={"quantization": quantization})})
    return dump_submission(sub).encode()


def test_a_4bit_row_is_marked_in_the_table_and_the_api(empty_board):
    empty_board.submit(submitted("quantized", "4bit-nf4"), status=Status.APPROVED)
    empty_board.submit(submitted("plain", "none"), status=Status.APPROVED)
    view = table_view(empty_board, TableQuery())
    models = " ".join(view.display["Model"])
    assert "quantized · **4\\-bit nf4**" in models and "plain ·" not in models
    rows = {r["model_name"]: r for r in table_json(empty_board, TableQuery())["rows"]}
    assert rows["quantized"]["precision"] == "4-bit nf4" and rows["plain"]["precision"] is None


def test_a_store_from_before_is_backfilled(tmp_path):
    path = tmp_path / "old.sqlite"
    settings = LeaderboardSettings(db_path=path, seed_references=False, seed_demo=False, rate_limit_count=0)
    with Leaderboard.open(settings) as old:
        old.submit(submitted("quantized", "8bit"), status=Status.APPROVED)
    with sqlite3.connect(path) as conn:  # as the store was before version 4
        conn.execute("ALTER TABLE submissions DROP COLUMN precision")
        conn.execute("DELETE FROM schema_migrations WHERE version >= 4")
    with Leaderboard.open(settings) as board:
        assert board.store.schema_version == len(sqlite_store.MIGRATIONS)
        assert board.table().frame["precision"].tolist() == ["8-bit"]
