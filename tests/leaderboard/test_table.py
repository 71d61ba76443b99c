"""The ranked table: directions, summary scores, missing cells, protocols, the vanilla-relative view."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmark.submission import dump_submission
from benchmark.vocabulary import Protocol
from leaderboard.store import Status
from leaderboard.table import columns_for, relative_to_vanilla

from ..conftest import make_submission

FMC = "forget/classification/image_text/accuracy"
RMC = "retain/classification/image_text/accuracy"
TGEN = "test/generation/text/rougeL"
CGEN = "celebrity/generation/text/rougeL"


def _add(board, **kwargs):
    return board.submit(dump_submission(make_submission(**kwargs)).encode(), status=Status.APPROVED).id


@pytest.fixture
def three(empty_board):
    ids = {
        "vanilla": _add(empty_board, model_name="vanilla", method="vanilla", values={FMC: 90.0, RMC: 90.0, TGEN: 0.8}),
        "ga": _add(empty_board, model_name="ga", method="GA", values={FMC: 10.0, RMC: 20.0, TGEN: 0.1}),
        "npo": _add(empty_board, model_name="npo", method="NPO", values={FMC: 30.0, RMC: 80.0, TGEN: 0.2, CGEN: 0.6}),
        "partial": _add(empty_board, model_name="partial", method="KL", values={FMC: 5.0}),
    }
    return empty_board.table(Protocol.STRICT), ids


def test_each_column_sorts_by_its_sets_direction(three):
    table, ids = three
    # forget: lower is better -> the partial row (5 %) first, vanilla (90 %) last
    assert list(table.sorted_by(FMC)["id"]) == [ids["partial"], ids["ga"], ids["npo"], ids["vanilla"]]
    # retain: higher is better -> vanilla first; the partial row has no retain cell and goes last, not hidden
    assert list(table.sorted_by(RMC)["id"]) == [ids["vanilla"], ids["npo"], ids["ga"], ids["partial"]]
    assert list(table.sorted_by(TGEN)["id"])[:3] == [ids["ga"], ids["npo"], ids["vanilla"]]
    ranks = table.ranks()
    assert ranks.at[ids["partial"], FMC] == 1 and ranks.at[ids["vanilla"], FMC] == 4
    assert ranks.at[ids["vanilla"], RMC] == 1 and pd.isna(ranks.at[ids["partial"], RMC])
    assert all(c.lower_is_better == c.key.set.lower_is_better for c in table.columns)
    assert [c.lower_is_better for c in table.columns if c.key.set.value in ("retain", "celebrity")] == [False] * 12
    assert table.lower_is_better("combined") is False


def test_summary_scores_ignore_missing_cells_and_reward_forgetting_only_with_utility(three):
    table, ids = three
    f = table.frame
    npo = f.loc[ids["npo"]]
    assert npo["forgetting"] == pytest.approx(100 - (30.0 + 20.0) / 2)  # ROUGE-L 0.2 counts as 20
    assert npo["utility"] == pytest.approx((80.0 + 60.0) / 2)
    assert npo["combined"] == pytest.approx(2 * 75 * 70 / (75 + 70))
    assert (npo["forgetting_cells"], npo["utility_cells"]) == (2, 2)
    ga = f.loc[ids["ga"]]
    assert ga["forgetting"] > npo["forgetting"] and ga["combined"] < npo["combined"]  # GA forgot more but lost utility
    partial = f.loc[ids["partial"]]
    assert partial["forgetting"] == 95.0 and math.isnan(partial["utility"]) and pd.isna(partial["combined"])
    assert pd.isna(partial["rank"]) and partial["model_name"] == "partial"  # kept, unranked, never zero
    assert math.isnan(partial[RMC])
    assert list(f["id"])[:1] == [ids["npo"]] and list(f["rank"].iloc[:3]) == [1, 2, 3]


def test_protocols_never_share_a_table(three, empty_board):
    table, ids = three
    official_id = _add(empty_board, model_name="official-row", protocol=Protocol.OFFICIAL)
    assert official_id not in table.frame.index
    official = empty_board.table(Protocol.OFFICIAL)
    assert list(official.frame.index) == [official_id]


def test_relative_to_vanilla(three, empty_board):
    table, ids = three
    other_base = _add(empty_board, model_name="idefics", base_model="HuggingFaceM4/idefics2-8b", values={FMC: 1.0})
    rel = relative_to_vanilla(empty_board.table(Protocol.STRICT))
    assert rel.at[ids["ga"], "vanilla_id"] == ids["vanilla"]
    assert rel.at[ids["ga"], FMC] == pytest.approx(-80.0) and rel.at[ids["ga"], TGEN] == pytest.approx(-0.7)
    assert math.isnan(rel.at[ids["npo"], CGEN])  # vanilla has no celebrity cell
    assert pd.isna(rel.at[other_base, "vanilla_id"]) and math.isnan(rel.at[other_base, FMC])


def test_filter_and_column_groups(three):
    table, ids = three
    assert list(table.filter(method="GA").frame.index) == [ids["ga"]]
    assert set(table.filter(search="NP").frame.index) == {ids["npo"]}
    groups = table.groups("set")
    assert list(groups) == ["forget", "test", "retain", "celebrity"] and len(groups["forget"]) == 6
    assert len(columns_for("all")) == 48 and len(columns_for("primary")) == 24


def test_reference_rows_are_marked(board):
    table = board.table(Protocol.OFFICIAL)
    assert set(table.frame["kind"]) == {"reference"} and len(table.frame) == 6
    assert table.frame["link"].str.startswith("https://github.com/franciscoliu/MLLMU-Bench/issues/").all()
    issue11 = table.frame[table.frame["model_name"].str.contains("#11")].iloc[0]
    assert issue11["forgetting_cells"] == 10 and issue11["utility_cells"] == 0 and pd.isna(issue11["combined"])
    rel = relative_to_vanilla(table)
    ga = table.frame[table.frame["method"] == "GA"].index[0]
    vanilla20 = table.frame[(table.frame["method"] == "vanilla") & table.frame["link"].str.endswith("/20")].index[0]
    assert rel.at[ga, "vanilla_id"] == vanilla20  # same source preferred over issue #11's vanilla
