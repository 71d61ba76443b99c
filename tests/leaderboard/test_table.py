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
    assert [c.lower_is_better for c in table.columns if c.key.set.value in ("retain", "celebrity")] == [False] * 24
    assert table.lower_is_better("combined") is False


def test_scores_are_on_one_scale_and_partial_rows_are_never_ranked(three):
    table, ids = three
    f = table.frame
    npo = f.loc[ids["npo"]]
    assert npo[TGEN] == pytest.approx(20.0)  # ROUGE-L 0.2 is shown as 20 on the table's 0-100 scale
    assert npo["forgetting"] == pytest.approx(100 - (30.0 + 20.0) / 2)
    assert npo["utility"] == pytest.approx((80.0 + 60.0) / 2)
    assert npo["forget_score"] == pytest.approx(30.0) and npo["test_score"] == pytest.approx(20.0)
    assert npo["coverage"] == 4
    # None of these rows reports all 24 cells: no combined score, no rank, and never a zero.
    assert f["combined"].isna().all() and f["rank"].isna().all()
    partial = f.loc[ids["partial"]]
    assert partial["forgetting"] == 95.0 and math.isnan(partial["utility"]) and math.isnan(partial[RMC])


def _full(value_forget: float, value_retain: float) -> dict[str, float]:
    """All 24 headline cells: forget/test at one value, retain/celebrity at another (accuracy % or ROUGE 0-1)."""
    from benchmark.metrics import all_cell_keys

    out = {}
    for key in all_cell_keys(headline_only=True):
        value = value_forget if key.lower_is_better else value_retain
        out[key.id] = value if key.metric == "accuracy" else value / 100
    return out


def test_only_complete_rows_are_ranked_and_combined_is_a_harmonic_mean(empty_board):
    good = _add(empty_board, model_name="good", values=_full(10.0, 80.0))
    lazy = _add(empty_board, model_name="lazy", values=_full(90.0, 90.0))  # forgot nothing
    broken = _add(empty_board, model_name="broken", values=_full(0.0, 0.0))  # forgot everything, and all else
    partial = _add(empty_board, model_name="partial", values={FMC: 0.0, RMC: 100.0})  # perfect on 2 cells
    table = empty_board.table(Protocol.STRICT)
    f = table.frame
    assert f.at[good, "combined"] == pytest.approx(2 * 90 * 80 / 170)
    assert f.at[lazy, "combined"] == pytest.approx(2 * 10 * 90 / 100)
    assert f.at[broken, "combined"] == 0.0  # forgetting 100 but utility 0
    assert list(f.index[:3]) == [good, lazy, broken] and list(f["rank"].iloc[:3]) == [1, 2, 3]
    assert pd.isna(f.at[partial, "rank"]) and f.at[partial, "coverage"] == 2 and list(f.index)[-1] == partial
    assert (f["group_rank"].iloc[:3] == f["rank"].iloc[:3]).all()  # one group: same base model and ratio


def test_rank_bands_follow_the_intervals():
    from leaderboard.table import interval_ranks

    score = pd.Series([80.0, 78.0, 60.0, 59.0, float("nan")])
    low = pd.Series([75.0, 70.0, 58.0, float("nan"), float("nan")])
    high = pd.Series([85.0, 86.0, 62.0, float("nan"), float("nan")])
    rank, worst = interval_ranks(score, low, high)
    # 80 and 78 overlap: both rank 1 (neither is significantly better), both could be 2nd.
    assert list(rank[:4]) == [1, 1, 3, 3] and list(worst[:4]) == [2, 2, 4, 4]
    assert pd.isna(rank[4]) and pd.isna(worst[4])
    # Without intervals, ranks are the usual "1 + rows strictly better".
    plain, _ = interval_ranks(score, pd.Series([float("nan")] * 5), pd.Series([float("nan")] * 5))
    assert list(plain[:4]) == [1, 2, 3, 4]


def test_group_ranks_compare_like_with_like(empty_board):
    a = _add(empty_board, model_name="a", values=_full(10.0, 80.0))
    b = _add(empty_board, model_name="b", values=_full(20.0, 70.0))
    other = _add(empty_board, model_name="c", values=_full(30.0, 60.0), forget_ratio=10)
    f = empty_board.table(Protocol.STRICT).frame
    assert (f.at[a, "rank"], f.at[b, "rank"], f.at[other, "rank"]) == (1, 2, 3)
    assert (f.at[a, "group_rank"], f.at[b, "group_rank"], f.at[other, "group_rank"]) == (1, 2, 1)


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
    assert rel.at[ids["ga"], FMC] == pytest.approx(-80.0) and rel.at[ids["ga"], TGEN] == pytest.approx(-70.0)
    assert math.isnan(rel.at[ids["npo"], CGEN])  # vanilla has no celebrity cell
    assert pd.isna(rel.at[other_base, "vanilla_id"]) and math.isnan(rel.at[other_base, FMC])


def test_filter_and_column_groups(three):
    table, ids = three
    assert list(table.filter(method="GA").frame.index) == [ids["ga"]]
    assert set(table.filter(search="NP").frame.index) == {ids["npo"]}
    assert len(columns_for("all")) == 48 and len(columns_for("primary")) == 24
    assert columns_for()[2].label == "Forget · Gen · img+text · ROUGE-L ↓"
    assert [c.lower_is_better for c in columns_for() if c.key.set.value == "retain"] == [False] * 6


def test_reference_rows_are_marked(board):
    table = board.table(Protocol.OFFICIAL)
    assert set(table.frame["kind"]) == {"reference"} and len(table.frame) == 6
    assert table.frame["link"].str.startswith("https://github.com/franciscoliu/MLLMU-Bench/issues/").all()
    issue11 = table.frame[table.frame["model_name"].str.contains("#11")].iloc[0]
    assert issue11["coverage"] == 10 and pd.isna(issue11["combined"]) and pd.isna(issue11["rank"])
    rel = relative_to_vanilla(table)
    ga = table.frame[table.frame["method"] == "GA"].index[0]
    vanilla20 = table.frame[(table.frame["method"] == "vanilla") & table.frame["link"].str.endswith("/20")].index[0]
    assert rel.at[ga, "vanilla_id"] == vanilla20  # same source preferred over issue #11's vanilla
