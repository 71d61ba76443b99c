"""The Leaderboard tab: the ranked table with search, filters, column groups and sorting; details; plots; CSV.

The pure part (:class:`TableQuery`, :func:`table_view`, :func:`details_markdown`, :func:`table_json`) turns
the leaderboard service's :class:`~leaderboard.table.LeaderboardTable` into what the page shows and is
tested without a browser; :func:`build_leaderboard_tab` lays the components out and wires callbacks that
each call one of those functions. Every piece of submitted text is escaped where it is rendered
(:func:`~leaderboard.text.escape_markdown` in table cells and details, plotly hovers are escaped by
:mod:`leaderboard.plots`).
"""

from __future__ import annotations

import html
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from benchmark.files import atomic_write
from benchmark.vocabulary import EvalSet, Modality, Protocol, Task
from leaderboard.table import MODALITY_LABELS, SET_LABELS, TASK_LABELS, Column, LeaderboardTable, is_vanilla
from leaderboard.text import escape_markdown, safe_link

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from leaderboard.service import Leaderboard
def md(text: object) -> str:
    """Submitted text made inert in Markdown: HTML-escaped (``< > &``), then Markdown syntax backslash-escaped."""
    return escape_markdown(html.escape("" if text is None else str(text), quote=False))


def link_md(label: object, url: object) -> str:
    """A Markdown link with an inert label, or just the label when ``url`` is not a plain http(s) URL."""
    href = safe_link(url)
    if href is None:
        return md(label)
    return f"[{md(label)}]({href.replace('(', '%28').replace(')', '%29')})"


ALL = "All"
"""The filter value that keeps every row."""

SUMMARY_LABELS = {"combined": "Combined ↑", "forgetting": "Forgetting ↑", "utility": "Utility ↑"}
META_LABELS = {
    "id": "ID",
    "rank": "Rank",
    "model_name": "Model",
    "method": "Method",
    "base_model": "Base model",
    "forget_ratio": "Forget %",
    "unlearning_modality": "Unlearning",
    "submitter": "Submitter",
}
SORT_DEFAULT = "rank"

SET_CHOICES = [SET_LABELS[s] for s in EvalSet]
TASK_CHOICES = [TASK_LABELS[t] for t in Task]
MODALITY_CHOICES = [MODALITY_LABELS[m] for m in Modality]


def is_demo(frame: pd.DataFrame) -> pd.Series:
    """Rows of the demo models (model or base model name starting with ``demo``): marked *demo* in the table."""
    return frame["model_name"].str.lower().str.startswith("demo") | frame["base_model"].str.lower().str.startswith(
        "demo"
    )


@dataclass(frozen=True)
class TableQuery:
    """What the user asked the table to show."""

    protocol: Protocol = Protocol.OFFICIAL
    search: str = ""
    base_model: str = ALL
    forget_ratio: str = ALL
    method: str = ALL
    unlearning_modality: str = ALL
    show_references: bool = True
    sets: tuple[str, ...] = tuple(SET_CHOICES)
    tasks: tuple[str, ...] = tuple(TASK_CHOICES)
    modalities: tuple[str, ...] = tuple(MODALITY_CHOICES)
    sort_by: str = SORT_DEFAULT
    """``rank``, a summary column (``combined`` ...) or a cell id; sorted best-first by its declared direction."""


@dataclass(frozen=True)
class TableView:
    """The table as shown, plus what the callbacks need beside it."""

    display: pd.DataFrame
    """Formatted for ``gr.Dataframe`` (markdown model names, rounded numbers, empty cells as None)."""
    table: LeaderboardTable
    """The filtered, sorted table (raw values), for plots and the CSV."""
    columns: list[Column] = field(default_factory=list)
    """The cell columns shown."""

    @property
    def ids(self) -> list[int]:
        """Submission ids in display order."""
        return [int(i) for i in self.table.frame["id"]]


def sort_choices(table: LeaderboardTable) -> list[tuple[str, str]]:
    """``(label, value)`` pairs for the sort dropdown: rank, the summary scores, then every cell column."""
    out = [("Rank (combined score)", SORT_DEFAULT)]
    out += [(label, key) for key, label in SUMMARY_LABELS.items()]
    out += [(c.label, c.id) for c in table.columns]
    return out


def filter_choices(table: LeaderboardTable) -> dict[str, list[str]]:
    """Distinct values of each filterable field, for the filter dropdowns (``All`` first)."""
    frame = table.frame

    def values(column: str) -> list[str]:
        return [ALL, *sorted({str(v) for v in frame[column].dropna()}, key=str.lower)]

    return {
        "base_model": values("base_model"),
        "forget_ratio": [ALL, *[str(v) for v in sorted({int(v) for v in frame["forget_ratio"].dropna()})]],
        "method": values("method"),
        "unlearning_modality": [ALL, "multimodal", "text", "none", "not reported"],
    }


def _shown_columns(table: LeaderboardTable, query: TableQuery) -> list[Column]:
    return [
        c
        for c in table.columns
        if SET_LABELS[c.key.set] in query.sets
        and TASK_LABELS[c.key.task] in query.tasks
        and MODALITY_LABELS[c.key.modality] in query.modalities
    ]


def _model_cell(name: str, kind: str, demo: bool, link: str | None) -> str:
    badges = (" · *reference*" if kind == "reference" else "") + (" · *demo*" if demo else "")
    label = link_md(name, link)
    return f"{label}{badges}"


def _round(value: Any, digits: int) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return round(float(value), digits)


def apply_query(table: LeaderboardTable, query: TableQuery) -> LeaderboardTable:
    """Filter and sort a table as ``query`` says (pure; used by the page and the ``leaderboard`` API)."""
    filtered = table.filter(
        base_model=None if query.base_model == ALL else query.base_model,
        forget_ratio=None if query.forget_ratio == ALL else int(query.forget_ratio),
        method=None if query.method == ALL else query.method,
        search=query.search.strip() or None,
    )
    frame = filtered.frame
    if query.unlearning_modality != ALL:
        wanted = frame["unlearning_modality"]
        mask = wanted.isna() if query.unlearning_modality == "not reported" else wanted == query.unlearning_modality
        frame = frame[mask.fillna(False)]
    if not query.show_references:
        frame = frame[frame["kind"] != "reference"]
    filtered = LeaderboardTable(frame=frame, columns=table.columns, protocol=table.protocol)
    if query.sort_by != SORT_DEFAULT and query.sort_by in frame.columns:
        frame = filtered.sorted_by(query.sort_by)
        filtered = LeaderboardTable(frame=frame, columns=table.columns, protocol=table.protocol)
    return filtered


def table_view(board: Leaderboard, query: TableQuery) -> TableView:
    """The leaderboard as the page shows it for ``query``."""
    table = apply_query(board.table(query.protocol), query)
    frame = table.frame
    columns = _shown_columns(table, query)
    demo = is_demo(frame)
    display = pd.DataFrame(
        {
            "ID": frame["id"].astype("int64"),
            "Rank": [None if v is pd.NA else int(v) for v in frame["rank"]],
            "Model": [
                _model_cell(n, k, bool(d), lk)
                for n, k, d, lk in zip(frame["model_name"], frame["kind"], demo, frame["link"], strict=True)
            ],
            "Method": [md(v) for v in frame["method"]],
            "Base model": [md(v) for v in frame["base_model"]],
            "Forget %": frame["forget_ratio"].astype("int64"),
            "Unlearning": [
                md(v) if isinstance(v, str) else "not reported" for v in frame["unlearning_modality"]
            ],
            **{label: [_round(v, 2) for v in frame[key]] for key, label in SUMMARY_LABELS.items()},
            "Cells F/U": [f"{f}/{u}" for f, u in zip(frame["forgetting_cells"], frame["utility_cells"], strict=True)],
            **{c.label: [_round(v, 2 if c.unit.value == "percent" else 4) for v in frame[c.id]] for c in columns},
        }
    )
    return TableView(display=display, table=table, columns=columns)


def display_datatypes(view: TableView) -> list[str]:
    """``gr.Dataframe`` datatypes for :attr:`TableView.display` (markdown for the text columns)."""
    types = {"Model": "markdown", "Method": "markdown", "Base model": "markdown", "Unlearning": "markdown",
             "Cells F/U": "str"}
    return [types.get(name, "number") for name in view.display.columns]


def column_widths(view: TableView) -> list[str | int]:
    """Pixel widths of the displayed columns (narrow ids and numbers, a wide model name)."""
    fixed = {"ID": "48px", "Rank": "56px", "Model": "300px", "Base model": "190px", "Method": "100px"}
    return [fixed.get(name, "120px") for name in view.display.columns]


def table_json(board: Leaderboard, query: TableQuery) -> dict[str, Any]:
    """The filtered table as plain JSON (the ``leaderboard`` API): raw values, ``null`` for missing cells."""
    table = apply_query(board.table(query.protocol), query)
    frame = table.frame.astype(object).where(table.frame.notna(), None)
    rows = []
    for record in frame.to_dict(orient="records"):
        rows.append({str(k): (int(v) if k in ("id", "rank", "forget_ratio") and v is not None else v)
                     for k, v in record.items()})
    return {
        "protocol": table.protocol.value,
        "columns": [
            {"id": c.id, "label": c.label, "unit": c.unit.value, "lower_is_better": c.lower_is_better}
            for c in table.columns
        ],
        "rows": rows,
    }


def write_csv(view: TableView, folder: Path | None = None) -> Path:
    """The shown rows with every raw value (not rounded) as a CSV file, for the download button."""
    folder = folder or Path(tempfile.gettempdir()) / "mllmu-arena"
    return atomic_write(folder / f"leaderboard-{view.table.protocol.value}.csv", view.table.frame.to_csv(index=False))


def details_markdown(board: Leaderboard, submission_id: int) -> str:
    """Everything about one row: metadata, provenance, source link, every cell with its interval.

    All submitted text is Markdown-escaped; the link is shown only when it is a plain http(s) URL.
    """
    stored = board.get(submission_id)
    sub = stored.submission
    meta = sub.metadata
    kind = "community-reported reference" if stored.is_reference else f"{stored.source_format.value} file"
    lines = [
        f"### #{stored.id} {md(meta.model_name)}",
        f"*{md(kind)}* · status **{stored.status.value}** · stored {stored.created_at:%Y-%m-%d %H:%M} UTC",
        "",
        "| field | value |",
        "|---|---|",
    ]
    fields = [
        ("base model", meta.base_model),
        ("method", meta.method),
        ("forget ratio", f"{meta.forget_ratio} %"),
        ("unlearning modality", meta.unlearning_modality.value if meta.unlearning_modality else "not reported"),
        ("protocol", f"{meta.protocol.value} (version {meta.protocol_version})"),
        ("submitter", meta.submitter),
        ("Hub repo", f"{meta.hub_repo}@{meta.hub_revision or 'main'}" if meta.hub_repo else "—"),
        ("file", stored.filename or "—"),
        ("notes", meta.notes or "—"),
    ]
    lines += [f"| {name} | {md(value)} |" for name, value in fields]
    lines.append(f"| link | {link_md(meta.link, meta.link) if meta.link else '—'} |")
    if stored.status_reason:
        lines.append(f"| moderation note | {md(stored.status_reason)} |")
    if sub.provenance is not None:
        prov = sub.provenance.model_dump(mode="json", exclude={"sample_counts", "package_versions", "extra"})
        lines += ["", "**Provenance**", "", "| field | value |", "|---|---|"]
        shown = {k: v for k, v in prov.items() if v not in (None, {}, "")}
        lines += [f"| {md(k)} | {md(v)} |" for k, v in shown.items()]
        if sub.provenance.package_versions:
            versions = ", ".join(f"{k} {v}" for k, v in sub.provenance.package_versions.items())
            lines.append(f"| packages | {md(versions)} |")
    lines += ["", f"**Cells** ({len(sub.cells)} reported; cells not listed were not reported)", "",
              "| set | task | modality | metric | value | n | 95 % CI |", "|---|---|---|---|---|---|---|"]
    for cell in sorted(sub.cells, key=lambda c: (list(EvalSet).index(c.set), list(Task).index(c.task),
                                                  list(Modality).index(c.modality), c.metric)):
        arrow = "↓" if cell.set.lower_is_better else "↑"
        ci = f"{cell.ci_low:.4g} – {cell.ci_high:.4g} ({cell.ci_method})" if cell.ci_low is not None else "—"
        lines.append(
            f"| {SET_LABELS[cell.set]} {arrow} | {TASK_LABELS[cell.task]} | {MODALITY_LABELS[cell.modality]} | "
            f"{cell.metric} | {cell.value:.4g} | {cell.n if cell.n is not None else '—'} | {ci} |"
        )
    if stored.warnings:
        lines += ["", "**Ingestion notes**", *[f"- {md(w)}" for w in stored.warnings]]
    return "\n".join(lines)


PLOT_CHOICES: list[tuple[str, str]] = [("Summary scores: forgetting vs utility", "scores")] + [
    (f"{TASK_LABELS[t]} {MODALITY_LABELS[m]}: forget vs retain", f"{t.value}/{m.value}") for t in Task for m in Modality
]


def tradeoff_figure(view: TableView, which: str = "scores") -> go.Figure:
    """The forgetting/utility scatter (with Pareto front and vanilla points) of the rows shown."""
    from leaderboard.plots import tradeoff_scatter

    if which == "scores":
        return tradeoff_scatter(view.table)
    task, modality = which.split("/")
    return tradeoff_scatter(view.table, Task(task), Modality(modality))


def modality_figure(view: TableView, eval_set: str = "forget", task: str = "classification") -> go.Figure:
    """Image+text versus text-only for one set and task."""
    from leaderboard.plots import modality_comparison

    return modality_comparison(view.table, EvalSet(eval_set), Task(task))


def bars_figure(board: Leaderboard, protocol: Protocol, submission_id: int) -> go.Figure:
    """One row against its vanilla model (same base and forget ratio) across the four sets, MC image+text."""
    from leaderboard.plots import set_bars
    from leaderboard.table import vanilla_for

    table = board.table(protocol)
    ids = [submission_id]
    if submission_id in table.frame.index:
        vanilla = vanilla_for(table).get(submission_id)
        if vanilla is not None and vanilla is not pd.NA and int(vanilla) != submission_id:
            ids.append(int(vanilla))
    return set_bars(table, ids, Task.CLASSIFICATION, Modality.IMAGE_TEXT)


def vanilla_rows(table: LeaderboardTable) -> pd.Series:
    """Which shown rows are vanilla models (used to mark them)."""
    return is_vanilla(table.frame["method"], table.frame["unlearning_modality"])


# --------------------------------------------------------------------------- the tab


def _query(*values: Any) -> TableQuery:
    protocol, search, base, ratio, method, umod, refs, sets, tasks, mods, sort_by = values
    return TableQuery(
        protocol=Protocol(protocol or "official"),
        search=search or "",
        base_model=base or ALL,
        forget_ratio=str(ratio or ALL),
        method=method or ALL,
        unlearning_modality=umod or ALL,
        show_references=bool(refs),
        sets=tuple(sets or ()),
        tasks=tuple(tasks or ()),
        modalities=tuple(mods or ()),
        sort_by=sort_by or SORT_DEFAULT,
    )


def build_leaderboard_tab(board: Leaderboard, demo: gr.Blocks) -> dict[str, Any]:
    """Lay out the Leaderboard tab inside the current ``gr.Tab`` and wire its callbacks.

    Returns:
        The components tests and other tabs refer to (``table``, ``refresh`` ...).
    """
    initial = board.table(Protocol.OFFICIAL)
    choices = filter_choices(initial)
    with gr.Row():
        protocol = gr.Radio(["official", "strict"], value="official", label="Protocol", scale=1,
                            info="Results of the two protocols never share a column.")
        search = gr.Textbox(label="Search", placeholder="model, method or submitter", scale=2, elem_id="lb-search")
        sort_by = gr.Dropdown(sort_choices(initial), value=SORT_DEFAULT, label="Sort by (best first)", scale=2,
                              elem_id="lb-sort")
    with gr.Row():
        base = gr.Dropdown(choices["base_model"], value=ALL, label="Base model", elem_id="lb-base")
        ratio = gr.Dropdown(choices["forget_ratio"], value=ALL, label="Forget ratio %", elem_id="lb-ratio")
        method = gr.Dropdown(choices["method"], value=ALL, label="Method", elem_id="lb-method")
        umod = gr.Dropdown(choices["unlearning_modality"], value=ALL, label="Unlearning modality", elem_id="lb-umod")
        refs = gr.Checkbox(value=True, label="Show reference rows")
    with gr.Accordion("Columns", open=False), gr.Row():
        sets = gr.CheckboxGroup(SET_CHOICES, value=SET_CHOICES, label="Sets (forget/test ↓, retain/celebrity ↑)")
        tasks = gr.CheckboxGroup(TASK_CHOICES, value=TASK_CHOICES, label="Tasks")
        mods = gr.CheckboxGroup(MODALITY_CHOICES, value=MODALITY_CHOICES, label="Modalities")
    first = table_view(board, TableQuery())
    table = gr.Dataframe(
        value=first.display,
        datatype=display_datatypes(first),  # type: ignore[arg-type]
        interactive=False,
        column_widths=column_widths(first),
        pinned_columns=3,
        max_height=520,
        label="Ranked by the combined score (harmonic mean of forgetting and utility); empty = not reported",
        elem_id="lb-table",
    )
    with gr.Row():
        count = gr.Markdown(f"{len(first.display)} row(s)", elem_id="lb-count")
        download = gr.DownloadButton("Download CSV", value=str(write_csv(first)), size="sm", elem_id="lb-csv")
        refresh = gr.Button("Refresh", size="sm", elem_id="lb-refresh")
    with gr.Row():
        with gr.Column(scale=3):
            details = gr.Markdown("Select a row to see its details.", elem_id="lb-details")
        with gr.Column(scale=2):
            bars = gr.Plot(label="The selected row vs its vanilla model", elem_id="lb-bars")
    with gr.Row():
        with gr.Column():
            plot_kind = gr.Dropdown(PLOT_CHOICES, value="scores", label="Trade-off plot")
            tradeoff = gr.Plot(value=tradeoff_figure(first), label="Forgetting vs utility", elem_id="lb-tradeoff")
        with gr.Column():
            with gr.Row():
                mod_set = gr.Dropdown([(SET_LABELS[s], s.value) for s in EvalSet], value="forget", label="Set")
                mod_task = gr.Dropdown([(TASK_LABELS[t], t.value) for t in Task], value="classification", label="Task")
            modality_plot = gr.Plot(value=modality_figure(first), label="Image+text vs text only")

    inputs = [protocol, search, base, ratio, method, umod, refs, sets, tasks, mods, sort_by]

    def show(*values: Any) -> tuple[Any, ...]:
        view = table_view(board, _query(*values[:11]))
        grid = gr.Dataframe(value=view.display, datatype=display_datatypes(view),  # type: ignore[arg-type]
                            column_widths=column_widths(view))
        return (grid, f"{len(view.display)} row(s)", str(write_csv(view)), tradeoff_figure(view, values[11]),
                modality_figure(view, values[12], values[13]))

    def refresh_choices(protocol_value: str) -> tuple[Any, ...]:
        current = board.table(Protocol(protocol_value or "official"))
        new = filter_choices(current)
        return tuple(gr.Dropdown(choices=new[k]) for k in ("base_model", "forget_ratio", "method"))

    def select(protocol_value: str, evt: gr.SelectData) -> tuple[str, Any]:
        row = evt.row_value or []
        if not row:
            return "Select a row to see its details.", None
        submission_id = int(row[0])
        return details_markdown(board, submission_id), bars_figure(board, Protocol(protocol_value), submission_id)

    outputs = [table, count, download, tradeoff, modality_plot]
    all_inputs = [*inputs, plot_kind, mod_set, mod_task]
    gr.on(
        [search.submit, protocol.change, base.change, ratio.change, method.change, umod.change, refs.change,
         sets.change, tasks.change, mods.change, sort_by.change, plot_kind.change, mod_set.change, mod_task.change,
         refresh.click],
        show, all_inputs, outputs, api_visibility="private", show_progress="minimal",
    )
    search.change(show, all_inputs, outputs, api_visibility="private", show_progress="hidden",
                  trigger_mode="always_last")
    gr.on([refresh.click, demo.load], refresh_choices, protocol, [base, ratio, method], api_visibility="private")
    demo.load(show, all_inputs, outputs, api_visibility="private")
    table.select(select, protocol, [details, bars], api_visibility="private")
    return {"table": table, "refresh": refresh, "search": search, "count": count, "show": show, "inputs": all_inputs,
            "outputs": outputs}
