"""What the Leaderboard tab and the ``/leaderboard`` API show, as pure functions (no Gradio).

* :class:`TableQuery` is everything a reader chose (board, protocol, filters, column groups, sort,
  page); it round-trips through the page's URL (:meth:`TableQuery.to_params`,
  :meth:`TableQuery.from_params`), so a view can be shared as a link.
* :func:`table_view` filters and sorts the board's cached table in memory and formats one page
  (:data:`PAGE_SIZE` rows) for ``gr.Dataframe``.
* :func:`table_json` is the API's paginated JSON, :func:`csv_text` the download (formula-leading
  text neutralised), :func:`details_html` one row in full, :func:`changelog_frame` the moderation history.

Submitted text is escaped wherever it is rendered: :func:`md` for Markdown cells, :func:`escape_html`
for HTML; links only when they are plain http(s) URLs.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from benchmark.metrics import all_cell_keys
from benchmark.vocabulary import EvalSet, Modality, Protocol, Task
from leaderboard.robustness import (
    ATTACK_COUNT,
    FAMILY_LABELS,
    NOT_MEASURED,
    RECOVERY_COLUMNS,
    RECOVERY_MAX,
    ROBUSTNESS_COLUMNS,
    ROBUSTNESS_LABELS,
    WORST_ATTACK,
    WORST_FORGET,
)
from leaderboard.service import REAL_KINDS
from leaderboard.store import RowKind
from leaderboard.table import (
    HEADLINE_KEYS,
    MODALITY_LABELS,
    SCORE_CELLS,
    SET_LABELS,
    SET_SCORE_COLUMNS,
    TASK_LABELS,
    Column,
    LeaderboardTable,
    cell_label,
    columns_for,
)
from leaderboard.text import escape_html, escape_markdown, safe_link

if TYPE_CHECKING:
    from leaderboard.service import Leaderboard

ALL = "All"
"""The filter value that keeps every row."""

PAGE_SIZE = 50
"""Rows per page of the table (only the visible page is sent to the browser)."""

MAX_API_LIMIT = 1000
"""Most rows one ``/leaderboard`` call returns (page with ``offset``)."""

BOARDS: dict[str, tuple[RowKind, ...]] = {"real": REAL_KINDS, "demo": (RowKind.DEMO,)}
"""Board -> the row kinds it shows. Demo rows (toy models) are never ranked among real ones."""

BOARD_CHOICES = [("Real results", "real"), ("Demo: toy models", "demo")]

COLUMN_GROUPS: dict[str, str] = {
    "forget": "Forget cells",
    "test": "Test cells",
    "retain": "Retain cells",
    "celebrity": "Celebrity cells",
    "metrics": "Every metric (ROUGE-1/2, BLEU)",
    "robustness": "Robustness (recovery per attack family)",
    "details": "Details (id, group rank, interval, submitter...)",
}
"""Column groups a reader can show beside the default columns (value -> label)."""

UNLEARNING_CHOICES = [ALL, "multimodal", "text", "none", "not reported"]

EVALUATED_CHOICES = [("All rows", "all"), ("Evaluated by the board", "board"), ("Self-reported", "self")]
"""Who produced a row's numbers: the board's worker, on request (``leaderboard.requests``), or its submitter."""

BOARD_BADGE = "evaluated by the board"
"""The badge of a row the board evaluated itself."""

SCORE_LINE = (
    "**Score** = harmonic mean of *forgetting* (100 − forget/test cells) and *utility* (retain/celebrity cells), "
    "all on 0–100 · ranked only with all 24 cells · 2–4 = rank range from 95 % intervals"
)
DEMO_BANNER = (
    "**Demo board: toy models for trying the app.** These rows are the project's 3 MB demo checkpoints on "
    "generated people, not real MLLMU-Bench results; they are never ranked among real rows."
)

SUMMARY_DISPLAY = {
    "combined": "Combined ↑",
    "forgetting": "Forgetting ↑",
    "utility": "Utility ↑",
    **{col: f"{SET_LABELS[s]} {'↓' if s.lower_is_better else '↑'}" for s, col in SET_SCORE_COLUMNS.items()},
}
"""Summary column -> header (every one on 0-100)."""

SUMMARY_WIDTHS = {"combined": "92px", "forgetting": "104px", "utility": "80px", "forget_score": "80px",
                  "test_score": "70px", "retain_score": "80px", "celebrity_score": "100px"}
"""Widths that fit each header on one line (the default table fits a 1,280 px window)."""

DEFAULT_ROBUSTNESS = (WORST_FORGET, RECOVERY_MAX)
"""Robustness columns shown without the robustness group, on boards where a row has a robustness file."""

ROBUSTNESS_WIDTHS = {WORST_FORGET: "118px", RECOVERY_MAX: "96px"}
"""Widths of the robustness columns (the others: ``ROBUSTNESS_WIDTH``)."""

ROBUSTNESS_WIDTH = "110px"

SORT_LABELS: dict[str, str] = {
    "rank": "Rank (combined score, intervals)",
    **{key: f"{label.rsplit(' ', 1)[0]} score" for key, label in SUMMARY_DISPLAY.items()},
    "coverage": "Cells reported",
    "newest": "Newest first",
    **{key: label.removesuffix(" ↓") for key, label in ROBUSTNESS_LABELS.items()},
    **{k.id: cell_label(k) for k in HEADLINE_KEYS},
}
"""Sort value -> label."""


def md(text: object) -> str:
    """Submitted text made inert in Markdown: HTML-escaped (``< > &``), then Markdown syntax backslash-escaped."""
    return escape_markdown(html.escape("" if text is None else str(text), quote=False))


def link_md(label: object, url: object) -> str:
    """A Markdown link with an inert label, or just the label when ``url`` is not a plain http(s) URL."""
    href = safe_link(url)
    if href is None:
        return md(label)
    return f"[{md(label)}]({href.replace('(', '%28').replace(')', '%29')})"


@dataclass(frozen=True)
class TableQuery:
    """What the reader asked the table to show (every field has a URL parameter, see :data:`URL_PARAMS`)."""

    board: str = "real"
    protocol: Protocol = Protocol.OFFICIAL
    search: str = ""
    base_model: str = ALL
    forget_ratio: str = ALL
    method: str = ALL
    unlearning_modality: str = ALL
    groups: tuple[str, ...] = ()
    """Column groups shown beside the defaults (:data:`COLUMN_GROUPS` keys)."""
    sort_by: str = "rank"
    """``rank``, a summary column, ``coverage``, ``newest`` or a cell id; always best first."""
    page: int = 1
    evaluated: str = "all"
    """``all``, ``board`` (rows the board evaluated on request) or ``self`` (self-reported rows)."""

    @property
    def kinds(self) -> tuple[RowKind, ...]:
        """The row kinds of the chosen board."""
        return BOARDS[self.board]

    def filtered(self) -> bool:
        """True when a filter or search narrows the rows."""
        return bool(self.search.strip()) or self.evaluated != "all" or any(
            v != ALL for v in (self.base_model, self.forget_ratio, self.method, self.unlearning_modality)
        )

    def cleared(self) -> TableQuery:
        """The same board, protocol, columns and sort, with no filter and on page 1."""
        return TableQuery(board=self.board, protocol=self.protocol, groups=self.groups, sort_by=self.sort_by)

    def to_params(self) -> dict[str, str]:
        """URL parameters of the fields that differ from the defaults."""
        default = TableQuery()
        out = {}
        for attr, name in URL_PARAMS.items():
            value = getattr(self, attr)
            if value != getattr(default, attr):
                out[name] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> TableQuery:
        """A query from URL parameters; unknown or malformed values fall back to the defaults (a link never fails)."""
        get = {attr: str(params.get(name, "")).strip() for attr, name in URL_PARAMS.items()}
        query = cls()
        if get["board"] in BOARDS:
            query = replace(query, board=get["board"])
        if get["protocol"] in {p.value for p in Protocol}:
            query = replace(query, protocol=Protocol(get["protocol"]))
        query = replace(query, search=get["search"][:200], base_model=get["base_model"][:200] or ALL,
                        method=get["method"][:200] or ALL)
        if get["forget_ratio"] in ("5", "10", "15"):
            query = replace(query, forget_ratio=get["forget_ratio"])
        if get["unlearning_modality"] in UNLEARNING_CHOICES:
            query = replace(query, unlearning_modality=get["unlearning_modality"])
        groups = tuple(g for g in COLUMN_GROUPS if g in get["groups"].split(","))
        query = replace(query, groups=groups)
        if get["sort_by"] in SORT_LABELS:
            query = replace(query, sort_by=get["sort_by"])
        if get["page"].isdigit() and int(get["page"]) >= 1:
            query = replace(query, page=int(get["page"]))
        if get["evaluated"] in {value for _, value in EVALUATED_CHOICES}:
            query = replace(query, evaluated=get["evaluated"])
        return query


URL_PARAMS = {
    "board": "board",
    "protocol": "protocol",
    "search": "q",
    "base_model": "base",
    "forget_ratio": "ratio",
    "method": "method",
    "unlearning_modality": "unlearning",
    "groups": "cols",
    "sort_by": "sort",
    "page": "page",
    "evaluated": "evaluated",
}
"""TableQuery field -> URL parameter."""


@dataclass(frozen=True)
class TableView:
    """One page of the table as shown, plus what the callbacks need beside it."""

    display: pd.DataFrame
    """The visible page, formatted for ``gr.Dataframe`` (Markdown model names, rounded numbers)."""
    datatypes: list[str]
    widths: list[str | int]
    table: LeaderboardTable
    """Every matching row (raw values on 0-100), filtered and sorted, for plots, CSV and the API."""
    query: TableQuery
    """The query, its page clamped to the pages there are."""
    ids: list[int] = field(default_factory=list)
    """Submission ids of the visible rows, in order (to map a selected row to its submission)."""
    shared: dict[str, str] = field(default_factory=dict)
    """Columns every row of the board has the same value in, left out of the page and said once in the caption."""

    @property
    def total(self) -> int:
        """Rows matching the query (all pages)."""
        return len(self.table.frame)

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, math.ceil(self.total / PAGE_SIZE))

    @property
    def caption(self) -> str:
        """What is shown and how it is sorted, in one line (true to the sort)."""
        q = self.query
        ranked = int(self.table.frame["rank"].notna().sum())
        order = "newest first" if q.sort_by == "newest" else f"sorted by {SORT_LABELS[q.sort_by]}, best first"
        every = "".join(f" · every row: {', '.join(f'{k} {v}' for k, v in self.shared.items())}" if self.shared else "")
        return f"{self.total:,} row(s), {ranked:,} ranked · {order} · page {q.page} of {self.pages}{every}"

    @property
    def empty_message(self) -> str:
        """What to say when nothing is shown ("" when rows are)."""
        if self.total:
            return ""
        if self.query.filtered():
            return "**No row matches these filters.** Clear them to see every row."
        return "**No results on this board yet.** Submit one in the Submit tab."


def filter_choices(table: LeaderboardTable) -> dict[str, list[str]]:
    """Distinct values of each filterable field, for the filter dropdowns (``All`` first)."""
    frame = table.frame

    def values(column: str) -> list[str]:
        return [ALL, *sorted({str(v) for v in frame[column].dropna()}, key=str.lower)]

    return {
        "base_model": values("base_model"),
        "forget_ratio": [ALL, *[str(v) for v in sorted({int(v) for v in frame["forget_ratio"].dropna()})]],
        "method": values("method"),
        "unlearning_modality": UNLEARNING_CHOICES,
    }


def apply_query(table: LeaderboardTable, query: TableQuery) -> LeaderboardTable:
    """Filter and sort a (cached) table as ``query`` says; pure, and the cached frame is not modified."""
    filtered = table.filter(
        base_model=None if query.base_model == ALL else query.base_model,
        forget_ratio=None if query.forget_ratio == ALL else int(query.forget_ratio),
        method=None if query.method == ALL else query.method,
        unlearning_modality=None if query.unlearning_modality == ALL else query.unlearning_modality,
        search=query.search.strip() or None,
        evaluated_by_board={"board": True, "self": False}.get(query.evaluated),
    )
    if query.sort_by == "rank":
        return filtered
    if query.sort_by == "newest":
        return replace(filtered, frame=filtered.frame.sort_values("id", ascending=False, kind="stable"))
    return replace(filtered, frame=filtered.sorted_by(query.sort_by))


def shown_columns(query: TableQuery) -> list[Column]:
    """The cell columns of the chosen groups (headline metrics, or every metric with ``metrics``)."""
    sets = {s for s in EvalSet if s.value in query.groups}
    return [c for c in columns_for("all" if "metrics" in query.groups else "primary") if c.key.set in sets]


def robustness_columns(query: TableQuery, board_has_robustness: bool) -> list[str]:
    """The robustness columns shown.

    Every one with the robustness group; else the worst case and the highest recovery on a board where some
    row has a robustness file (none elsewhere: they would read "not measured" on every row).
    """
    if "robustness" in query.groups:
        return [WORST_FORGET, RECOVERY_MAX, *RECOVERY_COLUMNS.values()]
    return list(DEFAULT_ROBUSTNESS) if board_has_robustness else []


NO_RECOVERY = "n/a: nothing removed"
"""A recovery cell of a row whose file exists but whose unlearning removed nothing (the reference itself)."""


def measured_text(value: Any, measured: bool = False) -> str:
    """A robustness value as shown: ``12.3``, or why there is none.

    ``not measured`` without a file (never zero, never blank); with a file but no value (``measured``: the
    row is its own reference), :data:`NO_RECOVERY`.
    """
    number = _number(value)
    if number is None:
        return NO_RECOVERY if measured else NOT_MEASURED
    return f"{number:.1f}"


def _number(value: Any, digits: int = 1) -> float | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def rank_text(rank: Any, worst: Any) -> str:
    """``3``, ``2–5`` (a range from intervals) or ``—`` (unranked)."""
    if rank is None or rank is pd.NA:
        return "—"
    return str(int(rank)) if worst is pd.NA or int(worst) == int(rank) else f"{int(rank)}–{int(worst)}"


def _model_cell(name: str, kind: str, link: str | None, precision: str | None = None, board: bool = False) -> str:
    badge = " · *community-reported*" if kind == "reference" else ""
    if board:
        badge += f" · ✅ *{BOARD_BADGE}*"
    if isinstance(precision, str) and precision:  # not upstream's precision: a visible variant
        badge += f" · **{md(precision)}**"
    return f"{link_md(name, link)}{badge}"


def _interval(low: Any, high: Any) -> str:
    if low is None or pd.isna(low):
        return "—"
    return f"{low:.1f}–{high:.1f}"


def table_view(board: Leaderboard, query: TableQuery) -> TableView:
    """The page of the leaderboard that ``query`` asks for (filtering a cached table: no store read)."""
    full = board.table(query.protocol, kinds=query.kinds)
    table = apply_query(full, query)
    pages = max(1, math.ceil(len(table.frame) / PAGE_SIZE))
    query = replace(query, page=min(max(1, query.page), pages))
    frame = table.frame.iloc[(query.page - 1) * PAGE_SIZE : query.page * PAGE_SIZE]
    details = "details" in query.groups
    cols: dict[str, Any] = {}
    types: dict[str, str] = {}
    widths: dict[str, str] = {}
    if details:
        cols["ID"], types["ID"], widths["ID"] = frame["id"].astype("int64").tolist(), "number", "56px"
    cols["Rank"] = [rank_text(r, w) for r, w in zip(frame["rank"], frame["rank_worst"], strict=True)]
    types["Rank"], widths["Rank"] = "str", "60px"
    cols["Model"] = [_model_cell(n, k, lk, pr, bool(ev)) for n, k, lk, pr, ev in
                     zip(frame["model_name"], frame["kind"], frame["link"], frame["precision"],
                         frame["evaluated_by_board"], strict=True)]
    types["Model"], widths["Model"] = "markdown", "170px"
    cols["Method"], types["Method"], widths["Method"] = [md(v) for v in frame["method"]], "markdown", "90px"
    shared = shared_values(full.frame) if not details else {}
    if "base model" not in shared:
        cols["Base model"] = [md(v) for v in frame["base_model"]]
        types["Base model"], widths["Base model"] = "markdown", "120px"
    if "forget split" not in shared:
        cols["Forget split"] = [f"{int(r)} %" for r in frame["forget_ratio"]]
        types["Forget split"], widths["Forget split"] = "str", "76px"
    cols["Cells"], types["Cells"], widths["Cells"] = [f"{int(c)}/{SCORE_CELLS}" for c in frame["coverage"]], \
        "str", "60px"
    for key, label in SUMMARY_DISPLAY.items():
        cols[label], types[label], widths[label] = [_number(v) for v in frame[key]], "number", SUMMARY_WIDTHS[key]
    # Text, not numbers: a row without a robustness file reads "not measured" (a number column would show blank).
    for key in robustness_columns(query, bool(full.frame[ATTACK_COUNT].notna().any())):
        label = ROBUSTNESS_LABELS[key]
        cols[label], types[label] = [measured_text(v, pd.notna(n)) for v, n in
                                     zip(frame[key], frame[ATTACK_COUNT], strict=True)], "str"
        widths[label] = ROBUSTNESS_WIDTHS.get(key, ROBUSTNESS_WIDTH)
    if details:
        extra = {
            "Rank in group": [rank_text(r, pd.NA) for r in frame["group_rank"]],
            "Combined 95 % CI": [_interval(lo, hi) for lo, hi in
                                 zip(frame["combined_low"], frame["combined_high"], strict=True)],
            "Unlearning": [md(v) if isinstance(v, str) else "not reported" for v in frame["unlearning_modality"]],
            "Submitter": [md(v) for v in frame["submitter"]],
            "Protocol version": [md(v) for v in frame["protocol_version"]],
            "Submitted": [str(v)[:10] for v in frame["created_at"]],
        }
        for label, values in extra.items():
            cols[label], types[label] = values, "markdown" if label in ("Unlearning", "Submitter") else "str"
    for col in shown_columns(query):
        cols[col.label], types[col.label], widths[col.label] = [_number(v) for v in frame[col.id]], "number", "150px"
    display = pd.DataFrame(cols)
    return TableView(
        display=display,
        datatypes=[types[c] for c in display.columns],
        widths=[widths.get(c, "110px") for c in display.columns],
        table=table,
        query=query,
        ids=[int(i) for i in frame["id"]],
        shared=shared,
    )


def shared_values(frame: pd.DataFrame) -> dict[str, str]:
    """``{"base model": ..., "forget split": ...}`` for those the board's rows (two or more) all share.

    Such a column says nothing row by row; leaving it out of the default page makes room (the demo board's
    robustness columns fit a 1,280 px window that way). The caption says the value; CSV, API and the
    details group keep the column.
    """
    out: dict[str, str] = {}
    if len(frame) < 2:
        return out
    if frame["base_model"].nunique(dropna=False) == 1:
        out["base model"] = md(frame["base_model"].iloc[0])
    if frame["forget_ratio"].nunique(dropna=False) == 1:
        out["forget split"] = f"{int(frame['forget_ratio'].iloc[0])} %"
    return out


def json_value(value: Any) -> Any:
    """A frame value as plain JSON: numpy scalars unwrapped, NaN, infinity and <NA> as null."""
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def parse_api_query(*, protocol: str, kinds: str, search: str, base_model: str, forget_ratio: str, method: str,
                    unlearning_modality: str, sort_by: str, evaluated: str = "all"
                    ) -> tuple[TableQuery, tuple[RowKind, ...]]:
    """The ``/leaderboard`` API's arguments as a query and row kinds; raises ``ValueError`` saying what to fix."""
    protocols = [p.value for p in Protocol]
    if protocol not in protocols:
        raise ValueError(f"unknown protocol {protocol[:40]!r}; use one of {', '.join(protocols)}")
    names = [k.strip() for k in (kinds or "").split(",") if k.strip()]
    known = [k.value for k in RowKind]
    unknown = [k for k in names if k not in known]
    if unknown or not names:
        raise ValueError(f"unknown kind {(unknown or [''])[0][:40]!r} in kinds; give a comma list of "
                         f"{', '.join(known)}")
    ratio = str(forget_ratio or ALL)
    if ratio not in (ALL, "5", "10", "15"):
        raise ValueError(f"forget_ratio must be 5, 10, 15 or {ALL}, got {ratio[:40]!r}")
    if (unlearning_modality or ALL) not in UNLEARNING_CHOICES:
        raise ValueError(f"unlearning_modality must be one of {', '.join(UNLEARNING_CHOICES)}")
    cell_ids = {k.id for k in all_cell_keys()}
    if sort_by not in SORT_LABELS and sort_by not in cell_ids:
        raise ValueError(f"unknown sort_by {sort_by[:80]!r}; use rank, combined, forgetting, utility, "
                         "forget_score, test_score, retain_score, celebrity_score, coverage, newest or a cell id "
                         "like forget/classification/image_text/accuracy")
    if (evaluated or "all") not in {value for _, value in EVALUATED_CHOICES}:
        raise ValueError(f"evaluated must be all, board (evaluated by the board) or self (self-reported), got "
                         f"{evaluated[:40]!r}")
    query = TableQuery(protocol=Protocol(protocol), search=(search or "")[:200], base_model=base_model or ALL,
                       forget_ratio=ratio, method=method or ALL, unlearning_modality=unlearning_modality or ALL,
                       sort_by=sort_by, evaluated=evaluated or "all")
    return query, tuple(RowKind(k) for k in dict.fromkeys(names))


def table_json(board: Leaderboard, query: TableQuery, *, kinds: tuple[RowKind, ...] | None = None,
               limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """The ``/leaderboard`` API: ``total`` matching rows, then ``limit`` of them from ``offset`` (raw, 0-100).

    ``kinds`` replaces the query's board (the API may ask for any mix; ranks are among the kinds asked for).
    """
    kinds = kinds or query.kinds
    table = apply_query(board.table(query.protocol, kinds=kinds), query)
    limit = max(0, min(int(limit), MAX_API_LIMIT))
    offset = max(0, int(offset))
    frame = table.frame.iloc[offset : offset + limit]
    rows = []
    for record in frame.to_dict(orient="records"):
        row = {str(k): json_value(v) for k, v in record.items() if k not in ROBUSTNESS_COLUMNS and k != WORST_ATTACK}
        row["ranked_on"] = f"{row['coverage']} of {SCORE_CELLS} cells"
        row["robustness"] = robustness_json(record)
        rows.append(row)
    return {
        "protocol": table.protocol.value,
        "kinds": [k.value for k in kinds],
        "scale": "0-100 (ROUGE and BLEU x100)",
        "total": len(table.frame),
        "limit": limit,
        "offset": offset,
        "columns": [
            {"id": c.id, "label": c.label, "unit": "0-100", "lower_is_better": c.lower_is_better}
            for c in table.columns
        ],
        "robustness": "per row: null (not measured) or recovery per attack family x 100 (% of what unlearning "
                      "removed that came back; lower is better), worst_forget = forget score (0-100) under the "
                      "strongest attack",
        "rows": rows,
    }


def robustness_json(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """A row's robustness summary for the API, or ``None`` (not measured).

    Recovery x 100 per family (null where the family has none), its highest, the forget score under the
    strongest attack and that attack's label, the number of attacks.
    """
    if json_value(record.get(ATTACK_COUNT)) is None:
        return None
    return {
        "worst_forget": json_value(record[WORST_FORGET]),
        "worst_attack": json_value(record[WORST_ATTACK]),
        "recovery": {family.value: json_value(record[col]) for family, col in RECOVERY_COLUMNS.items()},
        "recovery_max": json_value(record[RECOVERY_MAX]),
        "attacks": int(record[ATTACK_COUNT]),
    }


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "|", "%")
"""Text that spreadsheets may run as a formula when a cell starts with it (OWASP's CSV-injection list)."""


def neutralise_cell(value: Any) -> Any:
    """Text starting like a formula gets a leading apostrophe; numbers and other values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_text(view: TableView) -> str:
    """Every row of the view (all pages) with every raw value on 0-100, formula-leading text neutralised."""
    return str(neutralised(view.table.frame).to_csv(index=False))


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text columns went through :func:`neutralise_cell` (numbers untouched)."""
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise_cell)
    return safe


def details_html(board: Leaderboard, submission_id: int) -> str:
    """One row in full, as HTML that wraps at any width: metadata, provenance and every cell (0-100) by set.

    Every piece of submitted text is HTML-escaped; the link is shown only when it is a plain http(s) URL.
    """
    stored = board.get(submission_id)
    sub = stored.submission
    meta = sub.metadata
    e = escape_html
    kind = {RowKind.REFERENCE: "community-reported reference", RowKind.DEMO: "demo (toy model)"}.get(
        stored.kind, f"{stored.source_format.value} file")
    href = safe_link(meta.link)
    link = f'<a href="{e(href)}" target="_blank" rel="noopener noreferrer">{e(href)}</a>' if href else "—"
    fields = [
        ("Base model", e(meta.base_model)),
        ("Method", e(meta.method)),
        ("Forget ratio", f"{meta.forget_ratio} %"),
        ("Unlearning modality", e(meta.unlearning_modality.value) if meta.unlearning_modality else "not reported"),
        ("Protocol", f"{e(meta.protocol.value)} (version {e(meta.protocol_version)})"),
        ("Submitter", e(meta.submitter)),
        ("Hub repo", e(f"{meta.hub_repo}@{meta.hub_revision or 'main'}") if meta.hub_repo else "—"),
        ("File", e(stored.filename or "—")),
        ("Link", link),
        ("Notes", e(meta.notes or "—")),
    ]
    if stored.status_reason:
        fields.append(("Moderation note", e(stored.status_reason)))
    parts = [
        f'<div class="lb-details" data-id="{stored.id}">',
        f"<h3>#{stored.id} {e(meta.model_name)}</h3>",
        f'<p class="lb-sub">{e(kind)} · {e(stored.status.value)} · stored {stored.created_at:%Y-%m-%d %H:%M} UTC</p>',
        '<dl class="lb-fields">',
        *(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in fields),
        "</dl>",
    ]
    if sub.provenance is not None:
        prov = sub.provenance.model_dump(mode="json", exclude={"sample_counts", "package_versions", "extra"})
        shown = {k: v for k, v in prov.items() if v not in (None, {}, "")}
        if sub.provenance.package_versions:
            shown["packages"] = ", ".join(f"{k} {v}" for k, v in sub.provenance.package_versions.items())
        parts += ["<h4>Provenance</h4>", '<dl class="lb-fields">',
                  *(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in shown.items()), "</dl>"]
    parts.append(f"<h4>Cells ({len(sub.cells)} reported, on 0–100; cells not listed were not reported)</h4>")
    by_set: dict[EvalSet, list[Any]] = {}
    for cell in sub.cells:
        by_set.setdefault(cell.set, []).append(cell)
    for eval_set in EvalSet:
        cells = sorted(by_set.get(eval_set, []), key=lambda c: (list(Task).index(c.task),
                                                                 list(Modality).index(c.modality), c.metric))
        if not cells:
            continue
        arrow = "↓ lower is better" if eval_set.lower_is_better else "↑ higher is better"
        parts += [f'<table class="lb-cells"><caption>{SET_LABELS[eval_set]} ({arrow})</caption>',
                  "<thead><tr><th>Cell</th><th>Value</th><th>n</th><th>95 % CI</th></tr></thead><tbody>"]
        for cell in cells:
            scale = cell.unit.to_percent
            ci = f"{cell.ci_low * scale:.1f}–{cell.ci_high * scale:.1f}" if cell.ci_low is not None else "—"
            name = f"{TASK_LABELS[cell.task]} · {MODALITY_LABELS[cell.modality]} · {cell.metric}"
            parts.append(f"<tr><td>{name}</td><td>{cell.value * scale:.2f}</td>"
                         f"<td>{cell.n if cell.n is not None else '—'}</td><td>{ci}</td></tr>")
        parts.append("</tbody></table>")
    if stored.warnings:
        parts += ["<h4>Ingestion notes</h4><ul>", *(f"<li>{e(w)}</li>" for w in stored.warnings), "</ul>"]
    parts += robustness_html(board, submission_id)
    parts.append("</div>")
    return "\n".join(parts)


def _percent(value: float) -> str:
    text = f"{value * 100:.0f}"
    return "0" if text == "-0" else text


def _recovery(value: Any) -> str:
    """A recovery estimate as ``31 (-9 to 64)``: percent of what unlearning removed, with its interval."""
    if value is None:
        return "undefined (nothing removed)"
    text = _percent(value.value)
    if value.low is not None and value.high is not None:
        text += f" ({_percent(value.low)} to {_percent(value.high)})"
    return text


def robustness_html(board: Leaderboard, submission_id: int) -> list[str]:
    """The row's robustness file as HTML parts, every piece of its text escaped.

    One line per attack (forget before -> after, the reference, retain, recovery with its 95 % interval), or
    one line saying it was not measured.
    """
    stored = board.robustness(submission_id)
    if stored is None:
        return ["<h4>Robustness</h4>", f"<p>{NOT_MEASURED}: no robustness file "
                "(<code>python -m probes.stress</code>) is attached to this row.</p>"]
    e = escape_html
    result = stored.result
    meta = result.metadata
    note = (f"{stored.label}, {len(result.attacks)} attack(s) against {e(meta.reference_name)}"
            f"{' (a --quick run)' if meta.quick else ''}. Forget scores on 0–100 (↓); recovery = % of what "
            "unlearning removed that came back (↓; below 0: the attack lowered the score)")
    parts = ["<h4>Robustness</h4>", f'<p class="lb-sub">{note}.</p>',
             '<table class="lb-cells lb-robustness"><thead><tr><th>Attack</th><th>Forget before → after</th>'
             "<th>Reference</th><th>Retain</th><th>Recovery % (95 % CI)</th></tr></thead><tbody>"]
    for attack in result.attacks:
        family = FAMILY_LABELS.get(attack.family, attack.family.value)
        parts.append(
            f'<tr><td title="{e(attack.description)}">{e(attack.label)} <small>({e(family)})</small></td>'
            f"<td>{attack.forget_unlearned.value:.1f} → {attack.forget.value:.1f}</td>"
            f"<td>{attack.forget_reference.value:.1f}</td>"
            f"<td>{'—' if attack.retain is None else f'{attack.retain.value:.1f}'}</td>"
            f"<td>{_recovery(attack.recovery)}</td></tr>")
    parts.append("</tbody></table>")
    return parts


CHANGELOG_COLUMNS = ["When (UTC)", "Event", "ID", "Model", "Board", "Reason"]


def changelog_frame(board: Leaderboard, *, limit: int = 200) -> pd.DataFrame:
    """Approvals, rejections and withdrawals, newest first (submitted text Markdown-escaped)."""
    rows = [
        {
            "When (UTC)": f"{e.at:%Y-%m-%d %H:%M}",
            "Event": e.action,
            "ID": e.submission_id,
            "Model": md(e.model_name),
            "Board": "demo" if e.kind is RowKind.DEMO else "real",
            "Reason": md(e.reason or ""),
        }
        for e in board.changelog(limit=limit)
    ]
    return pd.DataFrame(rows, columns=CHANGELOG_COLUMNS)


CHANGELOG_TYPES = ["str", "str", "number", "markdown", "str", "markdown"]
