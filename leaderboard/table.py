"""The leaderboard table: one row per submission, one column per cell, honest ranks.

**One scale.** Every value in a table is on the 0-100 scale: accuracies as
upstream prints them, ROUGE and BLEU (stored as 0-1 fractions) times 100. The
store keeps what was submitted; only tables, plots, CSV and the API convert.

**Columns.** Cell columns are cell ids (``forget/classification/image_text/accuracy``)
labelled ``Forget · MC · img+text · acc ↓``; every metric's cells are in the
frame, and :func:`columns_for` picks the headline ones (accuracy, ROUGE-L,
accuracy: the paper's) or all. A table holds one protocol: official and strict
results never share a column.

**Scores** (on the 24 headline cells, 4 sets x 3 tasks x 2 modalities):

* ``forget_score``, ``test_score``, ``retain_score``, ``celebrity_score``: the
  mean of the set's headline cells present (lower is better on forget and test,
  higher on retain and celebrity);
* ``forgetting`` = 100 - mean(forget and test cells present): how much of the
  forgotten people's knowledge is gone (higher is better);
* ``utility`` = mean(retain and celebrity cells present): how much of the rest
  is kept (higher is better);
* ``combined`` = harmonic mean of the two, ``2 F U / (F + U)``: high only when
  both are; given only for rows that report all 24 cells (``coverage`` = 24).

**Ranks.** Only rows with every cell of the score are ranked (``rank`` is
empty for the others: compare them cell by cell). Where the cells carry 95 %
intervals (from per-sample results), the combined score gets one too (delta
method, cells taken as independent, so it is an indication rather than a
test) and a row ranks below another only when it is significantly worse, as on
LMArena: ``rank`` = 1 + the number of rows whose interval lies wholly above its
own, ``rank_worst`` = the number of ranked rows minus those wholly below. A row
without intervals counts as an exact point; with no intervals at all, ``rank``
is the usual "1 + rows strictly better". ``group_rank`` is the same within
comparable rows: same base model and forget ratio (the protocol is the table's).

Missing cells are never counted as zero and never hidden: they stay empty (``NaN``).
Forgetting is measured against 0 knowledge, not against chance: a model guessing
multiple choice at random scores 25 % accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Literal

import numpy as np
import pandas as pd

from benchmark.metrics import CellKey, all_cell_keys, headline_metric
from benchmark.vocabulary import EvalSet, Modality, Protocol, Task
from leaderboard.robustness import ROBUSTNESS_COLUMNS, ROBUSTNESS_DIRECTIONS, WORST_ATTACK, summary_row
from leaderboard.store import StoreFrames

MetricSelection = Literal["primary", "all"]

SET_LABELS = {EvalSet.FORGET: "Forget", EvalSet.TEST: "Test", EvalSet.RETAIN: "Retain", EvalSet.CELEBRITY: "Celebrity"}
TASK_LABELS = {Task.CLASSIFICATION: "MC", Task.GENERATION: "Gen", Task.CLOZE: "Cloze"}
MODALITY_LABELS = {Modality.IMAGE_TEXT: "img+text", Modality.TEXT: "text"}
METRIC_LABELS = {"accuracy": "acc", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "bleu": "BLEU"}

META_COLUMNS = (
    "id",
    "kind",
    "status",
    "model_name",
    "base_model",
    "method",
    "forget_ratio",
    "unlearning_modality",
    "protocol",
    "protocol_version",
    "submitter",
    "link",
    "hub_repo",
    "precision",
    "created_at",
    "evaluated_by_board",
)
"""Descriptive columns, in order. ``kind`` is ``reference``, ``demo`` or ``submission``; ``precision`` is empty at
upstream's precision, else how it differs (``4-bit nf4``, ``8-bit``, ``bfloat16``); ``evaluated_by_board`` is
True for a row the board's worker evaluated on request (``leaderboard.requests``), False for self-reported ones."""

# The frame also has the robustness columns (leaderboard.robustness.ROBUSTNESS_COLUMNS) after the summary ones.

SET_SCORE_COLUMNS = {s: f"{s.value}_score" for s in EvalSet}
"""Set -> the column of its mean headline cell."""

SUMMARY_COLUMNS = (
    "rank",
    "rank_worst",
    "group_rank",
    "combined",
    "combined_low",
    "combined_high",
    "forgetting",
    "utility",
    *SET_SCORE_COLUMNS.values(),
    "coverage",
)
"""Summary columns, in order (see the module docstring)."""

SCORE_DIRECTIONS = {
    "rank": True,
    "combined": False,
    "forgetting": False,
    "utility": False,
    "coverage": False,
    **{col: s.lower_is_better for s, col in SET_SCORE_COLUMNS.items()},
}
"""Summary column -> lower is better."""

HEADLINE_KEYS = tuple(all_cell_keys(headline_only=True))
"""The 24 cells every score rests on."""

SCORE_CELLS = len(HEADLINE_KEYS)
"""How many cells a row needs to be ranked (24)."""

_FORGET_SETS = (EvalSet.FORGET, EvalSet.TEST)
_Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Column:
    """One cell column: its key, label and direction."""

    key: CellKey
    label: str
    """Unambiguous human label, e.g. ``Forget · Gen · img+text · ROUGE-L ↓``."""

    @property
    def id(self) -> str:
        """The frame's column name (``forget/classification/image_text/accuracy``)."""
        return self.key.id

    @property
    def lower_is_better(self) -> bool:
        """Direction, from the set: forget and test lower, retain and celebrity higher."""
        return self.key.lower_is_better


def cell_label(key: CellKey) -> str:
    """``Forget · Gen · img+text · ROUGE-L ↓``: set, task, modality, metric and direction."""
    arrow = "↓" if key.lower_is_better else "↑"
    return (f"{SET_LABELS[key.set]} · {TASK_LABELS[key.task]} · {MODALITY_LABELS[key.modality]} · "
            f"{METRIC_LABELS[key.metric]} {arrow}")


def columns_for(metrics: MetricSelection = "primary") -> tuple[Column, ...]:
    """The cell columns, in display order: the headline metrics, or every metric."""
    return tuple(Column(key, cell_label(key)) for key in all_cell_keys(headline_only=metrics == "primary"))


@dataclass(frozen=True)
class LeaderboardTable:
    """A ranked table of one protocol.

    ``frame`` has :data:`META_COLUMNS`, :data:`SUMMARY_COLUMNS` and one column per :class:`Column`
    (named by cell id, on the 0-100 scale, ``NaN`` where not reported), one row per submission,
    ranked rows first by rank; its index is the submission id.
    """

    frame: pd.DataFrame
    columns: tuple[Column, ...]
    protocol: Protocol

    @property
    def cell_ids(self) -> list[str]:
        """Names of the cell columns."""
        return [c.id for c in self.columns]

    def column(self, column_id: str) -> Column:
        """The :class:`Column` named ``column_id``."""
        for col in self.columns:
            if col.id == column_id:
                return col
        raise KeyError(f"no cell column {column_id!r} in this table")

    def lower_is_better(self, column: str) -> bool:
        """Direction of a cell or summary column."""
        if column in SCORE_DIRECTIONS:
            return SCORE_DIRECTIONS[column]
        if column in ROBUSTNESS_DIRECTIONS:
            return ROBUSTNESS_DIRECTIONS[column]
        return self.column(column).lower_is_better

    def sorted_by(self, column: str) -> pd.DataFrame:
        """The frame sorted best-first by ``column``'s declared direction; empty cells last, ties by rank, then id."""
        ascending = self.lower_is_better(column)
        by = [column, "rank", "id"] if column != "rank" else ["rank", "combined", "id"]
        order = [ascending, True, True] if column != "rank" else [True, False, True]
        return self.frame.sort_values(by, ascending=order, na_position="last", kind="stable")

    def ranks(self) -> pd.DataFrame:
        """Per-column rank of every row (1 = best by the column's direction; empty cells unranked)."""
        return pd.DataFrame(
            {c.id: self.frame[c.id].rank(method="min", ascending=c.lower_is_better) for c in self.columns},
            index=self.frame.index,
        )

    def filter(
        self,
        *,
        base_model: str | None = None,
        forget_ratio: int | None = None,
        method: str | None = None,
        unlearning_modality: str | None = None,
        kind: str | None = None,
        search: str | None = None,
        evaluated_by_board: bool | None = None,
    ) -> LeaderboardTable:
        """Rows matching every given filter (``search``: case-insensitive substring of name, method or submitter).

        ``unlearning_modality`` ``"not reported"`` matches rows that do not say. Ranks are kept, not renumbered.
        """
        frame = self.frame
        mask = pd.Series(True, index=frame.index)
        for name, value in (("base_model", base_model), ("forget_ratio", forget_ratio), ("method", method),
                            ("kind", kind)):
            if value is not None:
                mask &= frame[name] == value
        if unlearning_modality is not None:
            column = frame["unlearning_modality"]
            mask &= column.isna() if unlearning_modality == "not reported" else column == unlearning_modality
        if evaluated_by_board is not None:
            mask &= frame["evaluated_by_board"] == evaluated_by_board
        if search:
            needle = search.lower()
            text = frame["model_name"] + "\n" + frame["method"] + "\n" + frame["submitter"]
            mask &= text.str.lower().str.contains(needle, regex=False)
        return replace(self, frame=frame[mask.fillna(False).astype(bool)])


def _pivot(cells: pd.DataFrame, ids: list[str], column: str) -> pd.DataFrame:
    if cells.empty:
        return pd.DataFrame(index=pd.Index([], dtype="int64"), columns=ids, dtype="float64")
    wide = cells.pivot(index="submission_id", columns="key", values=column)
    return wide.reindex(columns=ids).astype("float64")


def _scaled(cells: pd.DataFrame) -> pd.DataFrame:
    """Cells with value and interval on the 0-100 scale."""
    if cells.empty:
        return cells
    factor = cells["key"].map({k.id: k.unit.to_percent for k in all_cell_keys()}).fillna(1.0)
    out = cells.copy()
    for col in ("value", "ci_low", "ci_high"):
        out[col] = out[col].astype("float64") * factor
    return out


def summary_scores(values: pd.DataFrame, errors: pd.DataFrame | None = None) -> pd.DataFrame:
    """Set scores, forgetting, utility, combined (with its interval when ``errors`` allow) and coverage.

    Args:
        values: Headline cell columns on the 0-100 scale (missing columns count as not reported).
        errors: Standard errors of the same cells (``NaN`` where unknown), for the combined interval.
    """
    cols = {s: [k.id for k in HEADLINE_KEYS if k.set is s and k.id in values.columns] for s in EvalSet}
    out = pd.DataFrame(index=values.index)
    for s, column in SET_SCORE_COLUMNS.items():
        out[column] = values[cols[s]].mean(axis=1, skipna=True)
    forget_cols = [c for s in _FORGET_SETS for c in cols[s]]
    utility_cols = [c for s in EvalSet if s not in _FORGET_SETS for c in cols[s]]
    f = 100.0 - values[forget_cols].mean(axis=1, skipna=True)
    u = values[utility_cols].mean(axis=1, skipna=True)
    out["forgetting"], out["utility"] = f, u
    coverage = values[forget_cols + utility_cols].notna().sum(axis=1).astype("int64")
    complete = coverage == SCORE_CELLS
    total = f + u
    combined = (2 * f * u / total.where(total != 0)).where(total != 0, 0.0)
    out["combined"] = combined.where(complete)
    low = high = pd.Series(np.nan, index=values.index)
    if errors is not None and not values.empty:
        def mean_variance(cols: list[str]) -> pd.Series:
            squares = errors.reindex(columns=cols) ** 2
            return squares.sum(axis=1, min_count=len(cols)) / len(cols) ** 2  # NaN unless every cell has one

        var_f, var_u = mean_variance(forget_cols), mean_variance(utility_cols)
        square = total.where(total != 0) ** 2
        sd = np.sqrt((2 * u**2 / square) ** 2 * var_f + (2 * f**2 / square) ** 2 * var_u)
        low = (combined - _Z95 * sd).clip(lower=0.0).where(complete)
        high = (combined + _Z95 * sd).clip(upper=100.0).where(complete)
    out["combined_low"], out["combined_high"] = low, high
    out["coverage"] = coverage
    return out


def interval_ranks(score: pd.Series, low: pd.Series, high: pd.Series) -> tuple[pd.Series, pd.Series]:
    """LMArena-style ranks of the rows with a score (higher is better): ``(rank, rank_worst)``.

    ``rank`` = 1 + rows whose interval lies wholly above this row's; ``rank_worst`` = rows ranked minus
    those wholly below. A row without an interval is an exact point. Rows without a score are ``<NA>``.
    """
    ranked = score.notna()
    lo = low.where(low.notna(), score)[ranked].to_numpy(dtype="float64")
    hi = high.where(high.notna(), score)[ranked].to_numpy(dtype="float64")
    n = len(lo)
    better = n - np.searchsorted(np.sort(lo), hi, side="right")  # rows with lo_j > hi_i
    worse = np.searchsorted(np.sort(hi), lo, side="left")  # rows with hi_j < lo_i
    rank = pd.Series(pd.NA, index=score.index, dtype="Int64")
    worst = pd.Series(pd.NA, index=score.index, dtype="Int64")
    rank[ranked] = 1 + better
    worst[ranked] = n - worse
    return rank, worst


def build_table(frames: StoreFrames, *, protocol: Protocol = Protocol.OFFICIAL,
                metrics: MetricSelection = "all") -> LeaderboardTable:
    """Build the ranked table from a store's bulk read (already filtered to one protocol, statuses and kinds)."""
    columns = columns_for(metrics)
    subs = frames.submissions.copy()
    if not subs.empty and (subs["protocol"] != protocol.value).any():
        raise ValueError("frames mix protocols; read them with frames(protocol=...)")
    subs.index = pd.Index(subs["id"].to_numpy(dtype="int64"), name="submission_id")
    subs["evaluated_by_board"] = (subs["evaluated_by_board"].fillna(0).astype(bool) if "evaluated_by_board" in subs
                                  else pd.Series(False, index=subs.index, dtype=bool))
    cells = _scaled(frames.cells)
    ids = [c.id for c in columns]
    values = _pivot(cells, ids, "value").reindex(subs.index)
    headline = [k.id for k in HEADLINE_KEYS]
    errors = None
    if not cells.empty:
        head = cells[cells["key"].isin(headline)].assign(se=lambda c: (c["ci_high"] - c["ci_low"]) / (2 * _Z95))
        errors = _pivot(head, headline, "se").reindex(subs.index)
    scores = summary_scores(_pivot(cells, headline, "value").reindex(subs.index), errors)
    rank, worst = interval_ranks(scores["combined"], scores["combined_low"], scores["combined_high"])
    scores.insert(0, "rank", rank)
    scores.insert(1, "rank_worst", worst)
    group_rank = pd.Series(pd.NA, index=subs.index, dtype="Int64")
    for _, group in subs.groupby(["base_model", "forget_ratio"], sort=False):
        part = scores.loc[group.index]
        group_rank.loc[group.index] = interval_ranks(part["combined"], part["combined_low"], part["combined_high"])[0]
    scores.insert(2, "group_rank", group_rank)
    robust = robustness_frame(frames.robustness, subs.index)
    frame = pd.concat([subs[list(META_COLUMNS)], scores[list(SUMMARY_COLUMNS)], robust, values], axis=1)
    frame = frame.sort_values(["rank", "combined", "coverage", "id"], ascending=[True, False, False, True],
                              na_position="last", kind="stable")
    return LeaderboardTable(frame=frame, columns=columns, protocol=protocol)


def robustness_frame(summaries: pd.DataFrame | None, index: pd.Index) -> pd.DataFrame:
    """The robustness columns of every row: numbers ``NaN`` and the worst attack ``None`` for rows without a file."""
    import json

    out = pd.DataFrame(np.nan, index=index, columns=list(ROBUSTNESS_COLUMNS), dtype="float64")
    out[WORST_ATTACK] = pd.Series(None, index=index, dtype="object")
    if summaries is None or summaries.empty:
        return out
    ids = summaries["submission_id"].to_numpy(dtype="int64")
    keep = np.isin(ids, index.to_numpy())
    rows = [summary_row(json.loads(text)) for text, k in zip(summaries["summary_json"], keep, strict=True) if k]
    if not rows:
        return out
    known = pd.DataFrame(rows, index=pd.Index(ids[keep]))
    for column in ROBUSTNESS_COLUMNS:
        out.loc[known.index, column] = known[column].astype("float64")
    out.loc[known.index, WORST_ATTACK] = known[WORST_ATTACK]
    return out


def is_vanilla(method: pd.Series, unlearning_modality: pd.Series) -> pd.Series:
    """Rows of the vanilla (not unlearned) model: method ``vanilla`` (any case) or unlearning modality ``none``."""
    return (method.str.lower() == "vanilla") | (unlearning_modality == "none")


def vanilla_for(table: LeaderboardTable) -> pd.Series:
    """For each row, the id of the vanilla row of the same base model and forget ratio (``<NA>`` if none).

    Among several vanilla rows, the one sharing the most reported cells with the row wins, then one
    from the same source link, then a submission over a reference, then the lowest id.
    """
    frame = table.frame
    ids = table.cell_ids
    present = frame[ids].notna().astype("int64")
    vanilla_mask = is_vanilla(frame["method"], frame["unlearning_modality"])
    out = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    for _, group in frame.groupby(["base_model", "forget_ratio"], sort=False):
        candidates = group[vanilla_mask.loc[group.index]]
        if candidates.empty:
            continue
        cand_ids = candidates.index.to_numpy()
        common = present.loc[group.index].to_numpy() @ present.loc[cand_ids].to_numpy().T
        same_link = np.stack([(group["link"] == link).to_numpy(dtype="int64") for link in candidates["link"]], axis=1)
        not_reference = (candidates["kind"] != "reference").to_numpy(dtype="int64")
        id_order = cand_ids.argsort().argsort()  # 0 for the lowest id
        # Lexicographic preference (common cells, same link, not a reference, lowest id) as one number.
        n = len(cand_ids)
        score = ((common * 2 + same_link) * 2 + not_reference) * n + (n - 1 - id_order)
        out.loc[group.index] = cand_ids[score.argmax(axis=1)]
    return out


def relative_to_vanilla(table: LeaderboardTable) -> pd.DataFrame:
    """Each cell minus the same cell of the row's vanilla model (same base model and forget ratio).

    Differences are in points of the 0-100 scale; negative on forget/test means forgotten, negative on
    retain/celebrity means utility lost. Rows with no vanilla, and cells either side lacks, are empty.
    Columns: ``model_name``, ``vanilla_id``, then the cell ids.
    """
    frame = table.frame
    vanilla = vanilla_for(table)
    ids = table.cell_ids
    base = frame[ids].reindex(vanilla.fillna(-1).astype("int64").to_numpy())
    base.index = frame.index
    delta = frame[ids] - base
    delta.loc[vanilla.isna(), :] = float("nan")
    return pd.concat([frame[["model_name"]], vanilla.rename("vanilla_id"), delta], axis=1)


def cell_columns(table: LeaderboardTable, selected: Iterable[str]) -> list[Column]:
    """The :class:`Column` objects for ``selected`` ids, in table order."""
    wanted = set(selected)
    return [c for c in table.columns if c.id in wanted]


def primary_key(eval_set: EvalSet, task: Task, modality: Modality, metric: str | None = None) -> CellKey:
    """The key of one cell, with the task's primary metric unless ``metric`` is given."""
    return CellKey(eval_set, task, modality, metric or headline_metric(task).name)
