"""Plots: Pareto front, vanilla point, missing cells left out, escaped hover text."""

from __future__ import annotations

import numpy as np

from benchmark.submission import dump_submission
from benchmark.vocabulary import EvalSet, Modality, Protocol, Task
from leaderboard.plots import modality_comparison, pareto_front, set_bars, tradeoff_scatter
from leaderboard.store import Status

from ..conftest import make_submission


def test_pareto_front_minimises_x_and_maximises_y():
    x = np.array([10.0, 20.0, 15.0, 30.0, 5.0, 20.0])
    y = np.array([50.0, 80.0, 40.0, 90.0, 10.0, 70.0])
    assert list(pareto_front(x, y)) == [4, 0, 1, 3]


FI, RI = "forget/generation/image_text/rougeL", "retain/generation/image_text/rougeL"
FT = "forget/generation/text/rougeL"


def _board_with_rows(board):
    rows = [
        ("vanilla", "vanilla", {FI: 0.6, RI: 0.5}),
        ("<script>alert(1)</script>", "GA", {FI: 0.2, RI: 0.2}),
        ("npo", "NPO", {FI: 0.3, RI: 0.45, FT: 0.1}),
        ("forget-only", "KL", {FI: 0.1}),
    ]
    ids = [
        board.submit(
            dump_submission(make_submission(model_name=name, method=method, values=values)).encode(),
            status=Status.APPROVED,
        ).id
        for name, method, values in rows
    ]
    return board.table(Protocol.STRICT), ids


def test_tradeoff_scatter(empty_board):
    table, ids = _board_with_rows(empty_board)
    fig = tradeoff_scatter(table, Task.GENERATION, Modality.IMAGE_TEXT)
    traces = {t.name: t for t in fig.data}
    assert list(traces["Vanilla (no unlearning)"].customdata) == [ids[0]]
    assert sorted(traces["Submission"].customdata) == [ids[1], ids[2]]
    assert list(traces["Pareto front"].x) == [20.0, 30.0, 60.0]  # the table's 0-100 scale
    assert "1 row(s) lack these cells" in fig.layout.title.text  # the forget-only row is not drawn at zero
    hover = " ".join(traces["Submission"].hovertext)
    assert "&lt;script&gt;" in hover and "<script>" not in hover
    summary = tradeoff_scatter(table)
    assert summary.layout.xaxis.title.text.startswith("Forgetting score")


def test_set_bars_and_modality_comparison(empty_board):
    table, ids = _board_with_rows(empty_board)
    fig = set_bars(table, [ids[0], ids[2]], Task.GENERATION, Modality.IMAGE_TEXT)
    assert len(fig.data) == 2 and list(fig.data[0].x) == ["Forget ↓", "Test ↓", "Retain ↑", "Celebrity ↑"]
    assert list(fig.data[1].y) == [30.0, None, 45.0, None] and fig.data[1].hovertext[1] == "not reported"
    comp = modality_comparison(table, EvalSet.FORGET, Task.GENERATION)
    points = [t for t in comp.data if t.name != "y = x"]
    assert [list(t.customdata) for t in points] == [[ids[2]]]
    assert "3 row(s) lack a modality" in comp.layout.title.text
