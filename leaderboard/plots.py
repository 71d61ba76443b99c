"""Plotly figures of the trade-off between forgetting and utility.

All figures take a :class:`~leaderboard.table.LeaderboardTable` (so they show
exactly what the table shows, one protocol) and return a ``plotly`` figure.
Every value is on the table's 0-100 scale (ROUGE and BLEU x100). Submitted text in hover labels is
HTML-escaped. Missing cells are left out of a figure, never drawn as zero; each figure says how many
rows it could not place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from benchmark.metrics import CellKey, Unit, headline_metric
from benchmark.vocabulary import EvalSet, Modality, Task
from leaderboard.table import MODALITY_LABELS, SET_LABELS, TASK_LABELS, LeaderboardTable, is_vanilla
from leaderboard.text import escape_html

if TYPE_CHECKING:
    from benchmark.robustness import RobustnessFile

WEBGL_THRESHOLD = 1000
"""Scatter plots with more points than this use WebGL (``Scattergl``)."""


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points not dominated when minimising ``x`` and maximising ``y``, ordered by ``x``.

    A point is dominated when another has ``x`` <= and ``y`` >= with one strict.
    """
    order = np.lexsort((-y, x))  # by x ascending, then y descending
    front: list[int] = []
    best_y = -np.inf
    for i in order:
        if y[i] > best_y:
            front.append(int(i))
            best_y = y[i]
    return np.asarray(front, dtype=int)


def _label(key: CellKey) -> str:
    unit = "%" if key.unit is Unit.PERCENT else "×100"
    return f"{SET_LABELS[key.set]} {TASK_LABELS[key.task]} {MODALITY_LABELS[key.modality]} {key.metric} ({unit})"


def _hover(frame: pd.DataFrame) -> list[str]:
    return [
        f"#{i} {escape_html(name)}<br>{escape_html(method)} · {escape_html(base)} · forget {ratio}%"
        for i, name, method, base, ratio in zip(
            frame["id"], frame["model_name"], frame["method"], frame["base_model"], frame["forget_ratio"], strict=True
        )
    ]


def _scatter(n: int) -> type[go.Scatter] | type[go.Scattergl]:
    return go.Scattergl if n > WEBGL_THRESHOLD else go.Scatter


def tradeoff_scatter(
    table: LeaderboardTable,
    task: Task | None = None,
    modality: Modality | None = None,
    *,
    metric: str | None = None,
    forget_set: EvalSet = EvalSet.FORGET,
    utility_set: EvalSet = EvalSet.RETAIN,
) -> go.Figure:
    """Forgetting versus utility, one point per row, with the Pareto front and the vanilla points.

    With ``task`` and ``modality``: x is that cell on ``forget_set`` (lower = more forgotten), y the same
    cell on ``utility_set`` (higher = more kept). With neither: x is the forgetting score and y the
    utility score (both 0-100, higher is better for both; the front maximises both).
    """
    frame = table.frame
    if task is None and modality is None:
        x_col, y_col = "forgetting", "utility"
        x_title, y_title = "Forgetting score (higher = more forgotten)", "Utility score (higher = more kept)"
        minimise_x = False
    elif task is not None and modality is not None:
        name = metric or headline_metric(task).name
        xk, yk = CellKey(forget_set, task, modality, name), CellKey(utility_set, task, modality, name)
        missing = [k.id for k in (xk, yk) if k.id not in frame.columns]
        if missing:
            raise KeyError(f"the table has no column {missing[0]!r}; build it with metrics='all'")
        x_col, y_col = xk.id, yk.id
        x_title, y_title = f"{_label(xk)}, lower = forgotten", f"{_label(yk)}, higher = kept"
        minimise_x = True
    else:
        raise ValueError("give both task and modality, or neither")
    placed = frame[frame[x_col].notna() & frame[y_col].notna()]
    x = placed[x_col].to_numpy(dtype=float)
    y = placed[y_col].to_numpy(dtype=float)
    vanilla = is_vanilla(placed["method"], placed["unlearning_modality"]).to_numpy()
    kind = placed["kind"].to_numpy()
    fig = go.Figure()
    kinds = (("Submission", "submission", "circle"), ("Reference", "reference", "diamond"),
             ("Demo (toy)", "demo", "square"))
    for label, value, symbol in kinds:
        mask = ~vanilla & (kind == value)
        if not mask.any():
            continue
        part = placed[mask]
        fig.add_trace(
            _scatter(len(part))(
                x=x[mask],
                y=y[mask],
                mode="markers",
                name=label,
                marker={"symbol": symbol, "size": 8},
                hovertext=_hover(part),
                hoverinfo="text+x+y",
                customdata=part["id"].to_numpy(),
            )
        )
    if vanilla.any():
        part = placed[vanilla]
        fig.add_trace(
            go.Scatter(
                x=x[vanilla],
                y=y[vanilla],
                mode="markers",
                name="Vanilla (no unlearning)",
                marker={"symbol": "star", "size": 16, "line": {"width": 1, "color": "black"}},
                hovertext=_hover(part),
                hoverinfo="text+x+y",
                customdata=part["id"].to_numpy(),
            )
        )
    if len(placed):
        front = pareto_front(x if minimise_x else -x, y)
        fig.add_trace(
            go.Scatter(
                x=x[front], y=y[front], mode="lines", name="Pareto front", line={"dash": "dash"}, hoverinfo="skip"
            )
        )
    unplaced = len(frame) - len(placed)
    title = "Forgetting vs utility" + (f" ({unplaced} row(s) lack these cells and are not shown)" if unplaced else "")
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, legend_title_text="")
    return fig


def set_bars(
    table: LeaderboardTable,
    submission_ids: Sequence[int],
    task: Task,
    modality: Modality,
    *,
    metric: str | None = None,
) -> go.Figure:
    """Grouped bars across the four sets for chosen submissions (one bar group per set).

    Missing cells get no bar and are listed in the hover text of the trace ("not reported").
    """
    name = metric or headline_metric(task).name
    frame = table.frame.loc[[i for i in submission_ids if i in table.frame.index]]
    keys = [CellKey(s, task, modality, name) for s in EvalSet]
    sets = [f"{SET_LABELS[k.set]} {'↓' if k.lower_is_better else '↑'}" for k in keys]
    fig = go.Figure()
    for sub_id, row in frame.iterrows():
        values = [row.get(k.id) for k in keys]
        shown = [None if v is None or pd.isna(v) else float(v) for v in values]
        fig.add_trace(
            go.Bar(
                x=sets,
                y=shown,
                name=f"#{sub_id} {escape_html(row['model_name'])}",
                hovertext=["not reported" if v is None else f"{v:.1f}" for v in shown],
                hoverinfo="text+name",
            )
        )
    unit = "%" if keys[0].unit is Unit.PERCENT else "×100"
    fig.update_layout(
        barmode="group",
        title=f"{TASK_LABELS[task]} {MODALITY_LABELS[modality]} {name} across the four sets",
        yaxis_title=f"{name} ({unit})",
        legend_title_text="",
    )
    return fig


def modality_comparison(
    table: LeaderboardTable, eval_set: EvalSet, task: Task, *, metric: str | None = None
) -> go.Figure:
    """Image+text versus text-only for one set and task: one point per row, with the y = x diagonal.

    Points below the diagonal know less from text alone than with the portrait.
    """
    name = metric or headline_metric(task).name
    xk = CellKey(eval_set, task, Modality.IMAGE_TEXT, name)
    yk = CellKey(eval_set, task, Modality.TEXT, name)
    frame = table.frame
    placed = frame[frame[xk.id].notna() & frame[yk.id].notna()]
    fig = go.Figure()
    for label, part in placed.groupby(placed["unlearning_modality"].fillna("not reported"), sort=True):
        fig.add_trace(
            _scatter(len(part))(
                x=part[xk.id].to_numpy(dtype=float),
                y=part[yk.id].to_numpy(dtype=float),
                mode="markers",
                name=f"unlearning: {label}",
                hovertext=_hover(part),
                hoverinfo="text+x+y",
                customdata=part["id"].to_numpy(),
            )
        )
    fig.add_trace(
        go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="y = x", line={"dash": "dot"}, hoverinfo="skip")
    )
    unplaced = len(frame) - len(placed)
    title = f"{SET_LABELS[eval_set]} {TASK_LABELS[task]}: image+text vs text only"
    if unplaced:
        title += f" ({unplaced} row(s) lack a modality and are not shown)"
    fig.update_layout(title=title, xaxis_title=_label(xk), yaxis_title=_label(yk), legend_title_text="")
    return fig


ROBUSTNESS_PLOT_ROWS = 6
"""Most rows the robustness plot draws (one band of attacks per row), in the table's order."""


def robustness_dumbbell(results: Sequence[tuple[int, str, RobustnessFile]], *, left_out: int = 0) -> go.Figure:
    """Forget score (0-100) before and after each attack, per row: a dumbbell per attack, the reference a tick.

    Args:
        results: ``(submission id, model name, robustness file)`` of the rows to draw, in order.
        left_out: Rows with a file that were not drawn (said in the title).

    With no result the figure is an empty state that says so.
    """
    fig = go.Figure()
    if not results:
        fig.add_annotation(text="No row shown has robustness results (python -m probes.stress)<br>"
                                "Try the demo board, or clear the filters.",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 14})
        fig.update_layout(title="Forget score before and after each attack", xaxis={"visible": False},
                          yaxis={"visible": False}, height=320)
        return fig
    ys: list[str] = []
    before: list[float] = []
    after: list[float] = []
    reference: list[float] = []
    hover: list[str] = []
    line_x: list[float | None] = []
    line_y: list[str | None] = []
    for sub_id, name, result in results:
        for attack in result.attacks:
            if attack.family.value == "baseline":
                continue
            label = f"#{sub_id} {escape_html(name)} · {escape_html(attack.label)}"
            ys.append(label)
            before.append(attack.forget_unlearned.value)
            after.append(attack.forget.value)
            reference.append(attack.forget_reference.value)
            recovery = "undefined" if attack.recovery is None else f"{attack.recovery.value * 100:.0f} %"
            hover.append(f"{label}<br>unlearned {attack.forget_unlearned.value:.1f} → attacked "
                         f"{attack.forget.value:.1f} (reference {attack.forget_reference.value:.1f})<br>"
                         f"recovery {recovery}")
            line_x += [attack.forget_unlearned.value, attack.forget.value, None]
            line_y += [label, label, None]
    fig.add_trace(go.Scatter(x=line_x, y=line_y, mode="lines", line={"color": "#9ca3af", "width": 3},
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=reference, y=ys, mode="markers", name="Reference (before unlearning)",
                             marker={"symbol": "line-ns-open", "size": 14, "color": "#111827"}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=before, y=ys, mode="markers", name="Unlearned, no attack",
                             marker={"symbol": "circle", "size": 9, "color": "#2563eb"}, hovertext=hover,
                             hoverinfo="text"))
    fig.add_trace(go.Scatter(x=after, y=ys, mode="markers", name="Under the attack",
                             marker={"symbol": "diamond", "size": 10, "color": "#dc2626"}, hovertext=hover,
                             hoverinfo="text"))
    title = "Forget score before and after each attack (lower = forgotten)"
    if left_out:
        title += f"; {left_out} more row(s) with results not drawn"
    fig.update_layout(title=title, xaxis={"title": "Forget score (0–100)", "range": [0, 100]},
                      yaxis={"autorange": "reversed", "automargin": True, "type": "category"},
                      height=max(320, 22 * len(ys) + 140), legend={"orientation": "h", "y": -0.15},
                      margin={"l": 10, "r": 10})
    return fig
