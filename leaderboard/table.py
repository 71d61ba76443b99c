"""The leaderboard table: one row per submission, one column per cell, direction-aware ranking.

Columns are cell ids (``forget/classification/image_text/accuracy``), grouped by
set, task and modality (:class:`Column`); by default only each task's primary
metric (accuracy, ROUGE-L, accuracy), optionally every metric. A table holds one
protocol only: official and strict results never share a column.

Summary scores (computed on the primary metrics, every value first put on a
0-100 scale, ROUGE-L x 100):

* **forgetting** = 100 - mean(forget and test cells present): how much of the
  forgotten people's knowledge is gone (higher is better).
* **utility** = mean(retain and celebrity cells present): how much of the rest
  is kept (higher is better).
* **combined** = harmonic mean of the two, ``2 F U / (F + U)``: high only when
  both are high, so forgetting is rewarded only when utility is kept (a model
  that answers nothing has forgetting 100 but utility 0, and combined 0).

Missing cells are never counted as zero and never hidden: the cell stays empty
(``NaN``), the scores average only the cells present, and ``forgetting_cells``
/ ``utility_cells`` say how many of the 12 possible cells each score rests on.
A score with no cell at all is empty, as is ``combined`` when either is. Rows
are ranked by ``combined`` (empty scores last). Because the scores of rows
with different coverage rest on different cells, compare rows with equal
coverage, or use the per-cell columns.

Note that forgetting is measured against 0 knowledge, not against chance: a
model guessing multiple choice at random scores 25 % accuracy, forgetting 75.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from benchmark.metrics import CellKey, Unit, all_cell_keys, headline_metric
from benchmark.vocabulary import EvalSet, Modality, Protocol, Task
from leaderboard.store import StoreFrames

MetricSelection = Literal["primary", "all"]

SET_LABELS = {EvalSet.FORGET: "Forget", EvalSet.TEST: "Test", EvalSet.RETAIN: "Retain", EvalSet.CELEBRITY: "Celebrity"}
TASK_LABELS = {Task.CLASSIFICATION: "MC", Task.GENERATION: "Gen", Task.CLOZE: "Cloze"}
MODALITY_LABELS = {Modality.IMAGE_TEXT: "image+text", Modality.TEXT: "text"}
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
    "created_at",
)
"""Descriptive columns, in order. ``kind`` is ``reference`` for community-reported rows, else ``submission``."""

SUMMARY_COLUMNS = ("rank", "combined", "forgetting", "utility", "forgetting_cells", "utility_cells")
"""Summary columns, in order (see the module docstring)."""

SCORE_DIRECTIONS = {"combined": False, "forgetting": False, "utility": False, "rank": True}
"""Summary column -> lower is better."""

_FORGET_SETS = (EvalSet.FORGET, EvalSet.TEST)
_UTILITY_SETS = (EvalSet.RETAIN, EvalSet.CELEBRITY)


@dataclass(frozen=True)
class Column:
    """One cell column: its key, label, group and direction."""

    key: CellKey
    label: str
    """Short human label, e.g. ``Forget ↓ · MC · image+text``."""

    @property
    def id(self) -> str:
        """The frame's column name (``forget/classification/image_text/accuracy``)."""
        return self.key.id

    @property
    def lower_is_better(self) -> bool:
        """Direction, from the set: forget and test lower, retain and celebrity higher."""
        return self.key.lower_is_better

    @property
    def unit(self) -> Unit:
        """Percent or fraction."""
        return self.key.unit


def columns_for(metrics: MetricSelection = "primary") -> tuple[Column, ...]:
    """The cell columns of a table, in display order."""
    out = []
    for key in all_cell_keys(headline_only=metrics == "primary"):
        arrow = "↓" if key.lower_is_better else "↑"
        label = f"{SET_LABELS[key.set]} {arrow} · {TASK_LABELS[key.task]} · {MODALITY_LABELS[key.modality]}"
        if metrics == "all":
            label += f" · {METRIC_LABELS[key.metric]}"
        out.append(Column(key, label))
    return tuple(out)


@dataclass(frozen=True)
class LeaderboardTable:
    """A ranked table of one protocol.

    ``frame`` has :data:`META_COLUMNS`, :data:`SUMMARY_COLUMNS` and one column per
    :class:`Column` (named by cell id, values in the cell's unit, ``NaN`` where not
    reported), one row per submission, sorted by rank; its index is the submission id.
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
        return self.column(column).lower_is_better

    def sorted_by(self, column: str) -> pd.DataFrame:
        """The frame sorted best-first by ``column``'s declared direction; empty cells last, ties by id."""
        ascending = self.lower_is_better(column)
        return self.frame.sort_values([column, "id"], ascending=[ascending, True], na_position="last", kind="stable")

    def ranks(self) -> pd.DataFrame:
        """Per-column rank of every row (1 = best by the column's direction; empty cells unranked)."""
        return pd.DataFrame(
            {c.id: self.frame[c.id].rank(method="min", ascending=c.lower_is_better) for c in self.columns},
            index=self.frame.index,
        )

    def groups(self, by: Literal["set", "task", "modality"]) -> dict[str, list[str]]:
        """Cell column ids grouped by set, task or modality (for show/hide controls)."""
        out: dict[str, list[str]] = {}
        for col in self.columns:
            part = {"set": col.key.set, "task": col.key.task, "modality": col.key.modality}[by]
            out.setdefault(part.value, []).append(col.id)
        return out

    def filter(
        self,
        *,
        base_model: str | None = None,
        forget_ratio: int | None = None,
        method: str | None = None,
        unlearning_modality: str | None = None,
        kind: str | None = None,
        search: str | None = None,
    ) -> LeaderboardTable:
        """Rows matching every given filter (``search``: case-insensitive substring of name, method or submitter)."""
        frame = self.frame
        mask = pd.Series(True, index=frame.index)
        for name, value in (
            ("base_model", base_model),
            ("forget_ratio", forget_ratio),
            ("method", method),
            ("unlearning_modality", unlearning_modality),
            ("kind", kind),
        ):
            if value is not None:
                mask &= frame[name] == value
        if search:
            needle = search.lower()
            text = frame["model_name"] + "\n" + frame["method"] + "\n" + frame["submitter"]
            mask &= text.str.lower().str.contains(needle, regex=False)
        return replace(self, frame=frame[mask])


def _pivot(frames: StoreFrames, columns: tuple[Column, ...]) -> pd.DataFrame:
    cells = frames.cells
    ids = [c.id for c in columns]
    if cells.empty:
        return pd.DataFrame(index=pd.Index([], dtype="int64"), columns=ids, dtype="float64")
    cells = cells[cells["key"].isin(ids)]
    wide = cells.pivot(index="submission_id", columns="key", values="value")
    return wide.reindex(columns=ids).astype("float64")


def summary_scores(values: pd.DataFrame) -> pd.DataFrame:
    """Forgetting, utility and combined scores (module docstring) for a frame of cell columns.

    ``values`` needs the primary-metric columns (missing ones count as not reported).
    """
    forget_cols: list[str] = []
    utility_cols: list[str] = []
    scale: dict[str, float] = {}
    for key in all_cell_keys(headline_only=True):
        if key.id not in values.columns:
            continue
        scale[key.id] = key.unit.to_percent
        (forget_cols if key.set in _FORGET_SETS else utility_cols).append(key.id)
    forget = values[forget_cols].mul(pd.Series({c: scale[c] for c in forget_cols}), axis=1)
    utility = values[utility_cols].mul(pd.Series({c: scale[c] for c in utility_cols}), axis=1)
    out = pd.DataFrame(index=values.index)
    out["forgetting"] = 100.0 - forget.mean(axis=1, skipna=True)
    out["utility"] = utility.mean(axis=1, skipna=True)
    f, u = out["forgetting"], out["utility"]
    total = f + u
    out["combined"] = (2 * f * u / total.where(total != 0)).where(total != 0, 0.0).where(f.notna() & u.notna())
    out["forgetting_cells"] = forget.notna().sum(axis=1).astype("int64")
    out["utility_cells"] = utility.notna().sum(axis=1).astype("int64")
    return out


def build_table(
    frames: StoreFrames, *, protocol: Protocol = Protocol.OFFICIAL, metrics: MetricSelection = "primary"
) -> LeaderboardTable:
    """Build the ranked table from a store's bulk read (already filtered to one protocol and the wanted statuses)."""
    columns = columns_for(metrics)
    subs = frames.submissions.copy()
    if not subs.empty and (subs["protocol"] != protocol.value).any():
        raise ValueError("frames mix protocols; read them with frames(protocol=...)")
    subs["kind"] = (subs["source_format"] == "reference").map({True: "reference", False: "submission"})
    subs.index = pd.Index(subs["id"].to_numpy(dtype="int64"), name="submission_id")
    values = _pivot(frames, columns).reindex(subs.index)
    scores = summary_scores(values[[k.id for k in all_cell_keys(headline_only=True)]])
    frame = pd.concat([subs[list(META_COLUMNS)], scores, values], axis=1)
    frame = frame.sort_values(["combined", "id"], ascending=[False, True], na_position="last", kind="stable")
    frame.insert(len(META_COLUMNS), "rank", frame["combined"].rank(method="min", ascending=False).astype("Int64"))
    frame = frame[[*META_COLUMNS, *SUMMARY_COLUMNS, *[c.id for c in columns]]]
    return LeaderboardTable(frame=frame, columns=columns, protocol=protocol)


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

    Differences are in the cell's unit (percentage points for accuracy, ROUGE fraction for ROUGE);
    negative on forget/test means forgotten, negative on retain/celebrity means utility lost. Rows
    with no vanilla, and cells either side lacks, are empty. Columns: ``model_name``, ``vanilla_id``,
    then the cell ids.
    """
    frame = table.frame
    vanilla = vanilla_for(table)
    ids = table.cell_ids
    base = frame[ids].reindex(vanilla.fillna(-1).astype("int64").to_numpy())
    base.index = frame.index
    delta = frame[ids] - base
    delta.loc[vanilla.isna(), :] = float("nan")
    out = pd.concat([frame[["model_name"]], vanilla.rename("vanilla_id"), delta], axis=1)
    return out


def cell_columns(table: LeaderboardTable, selected: Iterable[str]) -> list[Column]:
    """The :class:`Column` objects for ``selected`` ids, in table order."""
    wanted = set(selected)
    return [c for c in table.columns if c.id in wanted]


def primary_key(eval_set: EvalSet, task: Task, modality: Modality, metric: str | None = None) -> CellKey:
    """The key of one cell, with the task's primary metric unless ``metric`` is given."""
    return CellKey(eval_set, task, modality, metric or headline_metric(task).name)
