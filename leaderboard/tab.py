"""The Leaderboard tab: board, filters, column groups, sort and pages; details; plots; changelog; links and CSV.

Every callback turns the reader's choices into a :class:`~leaderboard.views.TableQuery` and calls one pure
function of :mod:`leaderboard.views` on the board's cached table (built once per store version), so a filter
or a page change reads nothing from the store and sends one page of rows. The query lives in the page's URL
(updated in the browser after each change; opening the URL restores it), so any view can be shared.
Events use ``.input`` (user actions), not ``.change``, so that setting a control from code never starts a
second round trip.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import gradio as gr
import pandas as pd

from benchmark.files import atomic_write
from benchmark.vocabulary import EvalSet, Modality, Protocol, Task
from leaderboard.table import MODALITY_LABELS, SET_LABELS, TASK_LABELS, LeaderboardTable, vanilla_for
from leaderboard.views import (
    ALL,
    BOARD_CHOICES,
    CHANGELOG_TYPES,
    COLUMN_GROUPS,
    DEMO_BANNER,
    EVALUATED_CHOICES,
    SCORE_LINE,
    SORT_LABELS,
    TableQuery,
    TableView,
    changelog_frame,
    csv_text,
    details_html,
    filter_choices,
    table_view,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from leaderboard.service import Leaderboard

CSS = """
#lb-table table {font-variant-numeric: tabular-nums;}
.lb-details {max-width: 100%; overflow-wrap: break-word; word-break: normal;}
.lb-details h3 {margin: 0 0 4px 0;}
.lb-details .lb-sub {color: var(--body-text-color-subdued); margin: 0 0 8px 0;}
.lb-fields {display: grid; grid-template-columns: minmax(7em, max-content) 1fr; gap: 2px 12px; margin: 0 0 12px 0;}
.lb-fields dt {font-weight: 600;}
.lb-fields dd {margin: 0; min-width: 0; overflow-wrap: anywhere;}
.lb-cells {width: 100%; border-collapse: collapse; margin: 0 0 12px 0;}
.lb-cells caption {text-align: left; font-weight: 600; padding: 4px 0;}
.lb-cells th, .lb-cells td {text-align: left; padding: 2px 8px 2px 0;
  border-bottom: 1px solid var(--border-color-primary);}
.lb-cells td:nth-child(n+2), .lb-cells th:nth-child(n+2) {text-align: right; white-space: nowrap;}
.lb-robustness td:nth-child(n+2), .lb-robustness th:nth-child(n+2) {white-space: normal;}
@media (max-width: 600px) {
  .lb-fields {grid-template-columns: 1fr;}
  .lb-fields dd {margin-bottom: 6px;}
}
"""
"""Styles of the row details (passed to ``launch(css=...)`` by the app)."""

SELECT_HINT = "<p>Select a row to see everything about it.</p>"

LOG_NOTE = "Every approval, rejection and withdrawal, newest first."

SYNC_URL_JS = """(qs) => {
  const url = new URL(window.location.href);
  url.search = qs ? "?" + qs : "";
  window.history.replaceState(null, "", url.toString());
}"""
"""Browser side: write the view's query string into the address bar (no reload)."""

COPY_LINK_JS = """() => {
  const url = window.location.href;
  try { navigator.clipboard.writeText(url); } catch (e) {}
  return url;
}"""
"""Browser side: copy the address (the current view) and show it."""

PLOT_CHOICES: list[tuple[str, str]] = [("Summary scores: forgetting vs utility", "scores")] + [
    (f"{TASK_LABELS[t]} {MODALITY_LABELS[m]}: forget vs retain", f"{t.value}/{m.value}") for t in Task for m in Modality
]

CSV_FOLDER = Path(tempfile.gettempdir()) / "mllmu-arena-csv"
CSV_MAX_AGE_S = 3600
"""Per-request CSV files older than this are removed when a new one is written."""


def tradeoff_figure(table: LeaderboardTable, which: str = "scores") -> go.Figure:
    """The forgetting/utility scatter (Pareto front, vanilla points) of the rows shown."""
    from leaderboard.plots import tradeoff_scatter

    if which == "scores":
        return tradeoff_scatter(table)
    task, modality = which.split("/")
    return tradeoff_scatter(table, Task(task), Modality(modality))


def modality_figure(table: LeaderboardTable, eval_set: str = "forget", task: str = "classification") -> go.Figure:
    """Image+text versus text-only for one set and task."""
    from leaderboard.plots import modality_comparison

    return modality_comparison(table, EvalSet(eval_set), Task(task))


def robustness_figure(board: Leaderboard, table: LeaderboardTable) -> go.Figure:
    """Forget score before and after each attack for the rows shown that have a robustness file (the first few)."""
    from leaderboard.plots import ROBUSTNESS_PLOT_ROWS, robustness_dumbbell
    from leaderboard.robustness import ATTACK_COUNT

    frame = table.frame[table.frame[ATTACK_COUNT].notna()]
    results = []
    for sub_id, name in zip(frame.index[:ROBUSTNESS_PLOT_ROWS], frame["model_name"], strict=False):
        stored = board.robustness(int(sub_id))
        if stored is not None:
            results.append((int(sub_id), str(name), stored.result))
    return robustness_dumbbell(results, left_out=max(0, len(frame) - ROBUSTNESS_PLOT_ROWS))


def bars_figure(board: Leaderboard, query: TableQuery, submission_id: int) -> go.Figure | None:
    """One row against its vanilla model (same base and forget ratio) across the four sets, MC image+text."""
    from leaderboard.plots import set_bars

    table = board.table(query.protocol, kinds=query.kinds)
    if submission_id not in table.frame.index:
        return None
    row = table.frame.loc[submission_id]
    group = table.frame[(table.frame["base_model"] == row["base_model"])
                        & (table.frame["forget_ratio"] == row["forget_ratio"])]
    vanilla = vanilla_for(replace(table, frame=group)).get(submission_id)
    ids = [submission_id]
    if vanilla is not None and vanilla is not pd.NA and int(vanilla) != submission_id:
        ids.append(int(vanilla))
    return set_bars(table, ids, Task.CLASSIFICATION, Modality.IMAGE_TEXT)


def write_csv(view: TableView, folder: Path = CSV_FOLDER) -> Path:
    """The view's rows as a CSV file of its own (one per request: concurrent readers never share a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.glob("*/*.csv"):
        if now - old.stat().st_mtime > CSV_MAX_AGE_S:
            old.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # another request may be writing there
                old.parent.rmdir()
    own = Path(tempfile.mkdtemp(dir=folder))
    name = f"mllmu-leaderboard-{view.query.board}-{view.query.protocol.value}.csv"
    return atomic_write(own / name, csv_text(view))


def query_string(query: TableQuery, row: int | None) -> str:
    """The URL query of a view and its selected row."""
    params = query.to_params()
    if row is not None:
        params["row"] = str(row)
    return urlencode(params)


def build_leaderboard_tab(board: Leaderboard, blocks: gr.Blocks) -> dict[str, Any]:
    """Lay out the Leaderboard tab inside the current ``gr.Tab`` and wire its callbacks.

    Returns:
        The components tests refer to.
    """
    first = table_view(board, TableQuery())
    choices = filter_choices(first.table)
    with gr.Row(equal_height=True):
        board_radio = gr.Radio(BOARD_CHOICES, value="real", label="Board", elem_id="lb-board", scale=2,
                               info="The demo board holds the toy models the app runs on.")
        protocol = gr.Radio(["official", "strict"], value="official", label="Protocol", elem_id="lb-protocol",
                            scale=1, info="Never mixed in one table.")
        search = gr.Textbox(label="Search", placeholder="model, method or submitter", elem_id="lb-search", scale=2)
        sort_by = gr.Dropdown([(label, key) for key, label in SORT_LABELS.items()], value="rank",
                              label="Sort (best first)", elem_id="lb-sort", scale=2)
    with gr.Row():
        base = gr.Dropdown(choices["base_model"], value=ALL, label="Base model", elem_id="lb-base")
        ratio = gr.Dropdown(choices["forget_ratio"], value=ALL, label="Forget ratio %", elem_id="lb-ratio")
        method = gr.Dropdown(choices["method"], value=ALL, label="Method", elem_id="lb-method")
        umod = gr.Dropdown(choices["unlearning_modality"], value=ALL, label="Unlearning modality", elem_id="lb-umod")
        evaluated = gr.Radio(EVALUATED_CHOICES, value="all", label="Evaluated by", elem_id="lb-evaluated",
                             info="Rows the board evaluated on request, or self-reported ones.")
    groups = gr.CheckboxGroup([(label, key) for key, label in COLUMN_GROUPS.items()], value=[],
                              label="More columns", elem_id="lb-groups")
    banner = gr.Markdown(DEMO_BANNER, visible=False, elem_id="lb-demo-banner")
    gr.Markdown(SCORE_LINE, elem_id="lb-score-line")
    with gr.Tabs():
        with gr.Tab("Table", id="lb-tab-table") as table_tab:
            # The load event replaces this with the view the URL asks for (and the store's latest rows).
            caption = gr.Markdown("Loading the leaderboard…", elem_id="lb-count")
            with gr.Row(visible=not first.total, elem_id="lb-empty-row") as empty_row:
                empty_md = gr.Markdown(first.empty_message, elem_id="lb-empty")
                clear = gr.Button("Clear filters", size="sm", elem_id="lb-clear", scale=0)
            table = gr.Dataframe(
                value=first.display,
                datatype=first.datatypes,  # type: ignore[arg-type]
                column_widths=first.widths,
                interactive=False,
                pinned_columns=2,
                max_height=640,
                wrap=True,
                show_label=False,
                elem_id="lb-table",
            )
            with gr.Row(equal_height=True):
                prev_page = gr.Button("← Previous page", size="sm", interactive=False, elem_id="lb-prev")
                next_page = gr.Button("Next page →", size="sm", interactive=first.pages > 1, elem_id="lb-next")
                copy = gr.Button("Copy link to this view", size="sm", elem_id="lb-copy")
                csv_button = gr.Button("Download CSV", size="sm", elem_id="lb-csv")
            link = gr.Textbox(label="Link to this view", visible=False, interactive=False, buttons=["copy"],
                              elem_id="lb-link")
            csv_file = gr.File(label="CSV of every matching row", visible=False, elem_id="lb-csv-file")
            with gr.Row():
                with gr.Column(scale=3, min_width=300):
                    details = gr.HTML(SELECT_HINT, elem_id="lb-details")
                with gr.Column(scale=2, min_width=300):
                    bars = gr.Plot(label="The selected row vs its vanilla model", elem_id="lb-bars", visible=False)
        with gr.Tab("Plots", id="lb-tab-plots") as plots_tab:
            with gr.Row():
                with gr.Column(min_width=300):
                    plot_kind = gr.Dropdown(PLOT_CHOICES, value="scores", label="Trade-off plot")
                    tradeoff = gr.Plot(label="Forgetting vs utility", elem_id="lb-tradeoff")
                with gr.Column(min_width=300):
                    with gr.Row():
                        mod_set = gr.Dropdown([(SET_LABELS[s], s.value) for s in EvalSet], value="forget",
                                              label="Set")
                        mod_task = gr.Dropdown([(TASK_LABELS[t], t.value) for t in Task], value="classification",
                                               label="Task")
                    modality_plot = gr.Plot(label="Image+text vs text only", elem_id="lb-modality")
            robust_plot = gr.Plot(label="Does the forgetting hold? Forget score before and after each attack",
                                  elem_id="lb-robustness")
        with gr.Tab("Changelog", id="lb-tab-changelog") as log_tab:
            log_note = gr.Markdown(LOG_NOTE, elem_id="lb-log-note")
            changelog = gr.Dataframe(value=None, datatype=CHANGELOG_TYPES, interactive=False,  # type: ignore[arg-type]
                                     show_label=False, elem_id="lb-changelog")
    query_state = gr.State(TableQuery())
    ids_state = gr.State(first.ids)
    row_state = gr.State(None)
    plots_open = gr.State(False)
    url = gr.Textbox(visible="hidden", elem_id="lb-url")

    controls = [board_radio, protocol, search, base, ratio, method, umod, groups, sort_by]
    view_outputs = [base, ratio, method, table, caption, empty_row, empty_md, banner, prev_page, next_page,
                    query_state, ids_state, url, tradeoff, modality_plot, robust_plot]
    plot_inputs = [plots_open, plot_kind, mod_set, mod_task]

    def render(query: TableQuery, row: int | None, show_plots: bool, kind: str, set_: str, task: str) -> list[Any]:
        choices = filter_choices(board.table(query.protocol, kinds=query.kinds))
        # A filter value this board does not have (from an old link, or another board) is dropped, not kept
        # hidden behind a dropdown that says "All".
        query = replace(
            query,
            base_model=query.base_model if query.base_model in choices["base_model"] else ALL,
            forget_ratio=query.forget_ratio if query.forget_ratio in choices["forget_ratio"] else ALL,
            method=query.method if query.method in choices["method"] else ALL,
        )
        view = table_view(board, query)
        dropdowns = [gr.Dropdown(choices=choices[name], value=getattr(view.query, name))
                     for name in ("base_model", "forget_ratio", "method")]
        grid = gr.Dataframe(value=view.display, datatype=view.datatypes,  # type: ignore[arg-type]
                            column_widths=view.widths)
        plots: list[Any] = [gr.skip(), gr.skip(), gr.skip()]
        if show_plots:
            plots = [tradeoff_figure(view.table, kind), modality_figure(view.table, set_, task),
                     robustness_figure(board, view.table)]
        return [*dropdowns, grid, view.caption, gr.Row(visible=not view.total), view.empty_message,
                gr.Markdown(visible=view.query.board == "demo"),
                gr.Button(interactive=view.query.page > 1), gr.Button(interactive=view.query.page < view.pages),
                view.query, view.ids, query_string(view.query, row), *plots]

    def from_controls(values: tuple[Any, ...], page: int = 1, evaluated_v: str = "all") -> TableQuery:
        board_value, protocol_value, text, base_v, ratio_v, method_v, umod_v, group_v, sort_v = values
        return TableQuery(board=board_value or "real", protocol=Protocol(protocol_value or "official"),
                          search=(text or "")[:200], base_model=base_v or ALL, forget_ratio=str(ratio_v or ALL),
                          method=method_v or ALL, unlearning_modality=umod_v or ALL, groups=tuple(group_v or ()),
                          sort_by=sort_v or "rank", page=page, evaluated=evaluated_v or "all")

    def control_values(query: TableQuery) -> list[Any]:
        return [query.board, query.protocol.value, query.search, query.base_model, query.forget_ratio,
                query.method, query.unlearning_modality, list(query.groups), query.sort_by]

    def on_input(*values: Any) -> list[Any]:
        # The nine controls, the selected row, the four plot inputs, then (optional) the Evaluated-by filter.
        query = from_controls(values[:9], evaluated_v=values[14] if len(values) > 14 else "all")
        return render(query, values[9], *values[10:14])

    def on_page(step: int) -> Any:
        def turn(query: TableQuery, row: int | None, *plot_values: Any) -> list[Any]:
            return render(replace(query, page=query.page + step), row, *plot_values)

        return turn

    def on_clear(query: TableQuery, *plot_values: Any) -> list[Any]:
        cleared = query.cleared()
        return [*control_values(cleared), *render(cleared, None, *plot_values), cleared.evaluated]

    def on_load(request: gr.Request) -> list[Any]:
        params = dict(request.query_params) if request is not None else {}
        query = TableQuery.from_params(params)
        row_param = params.get("row", "")
        row = int(row_param) if row_param.isdigit() else None
        shown = render(query, row, False, "scores", "forget", "classification")
        detail, figure = SELECT_HINT, gr.Plot(visible=False)
        if row is not None:
            detail, figure = show_row(query, row)
        return [*control_values(query), *shown, row, detail, figure, query.evaluated]

    def show_row(query: TableQuery, row: int) -> tuple[str, Any]:
        # Only rows on the board (approved, of its kinds): a link must not reveal a pending or rejected one.
        if row not in board.table(query.protocol, kinds=query.kinds).frame.index:
            return f"<p>No row #{row} on this board.</p>", gr.Plot(visible=False)
        figure = bars_figure(board, query, row)
        return details_html(board, row), gr.Plot(value=figure, visible=figure is not None)

    def on_select(query: TableQuery, ids: list[int], evt: gr.SelectData) -> tuple[Any, ...]:
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not isinstance(index, int) or not 0 <= index < len(ids):
            return SELECT_HINT, gr.Plot(visible=False), None, query_string(query, None)
        row = ids[index]
        detail, figure = show_row(query, row)
        return detail, figure, row, query_string(query, row)

    def on_plots(query: TableQuery, kind: str, set_: str, task: str) -> tuple[Any, ...]:
        view = table_view(board, query)
        return (True, tradeoff_figure(view.table, kind), modality_figure(view.table, set_, task),
                robustness_figure(board, view.table))

    def on_csv(query: TableQuery) -> Any:
        return gr.File(value=str(write_csv(table_view(board, query))), visible=True)

    private: dict[str, Any] = {"api_visibility": "private"}
    user_inputs = [board_radio.input, protocol.input, base.input, ratio.input, method.input, umod.input,
                   groups.input, sort_by.input, search.submit, evaluated.input]
    input_values = [*controls, row_state, *plot_inputs, evaluated]
    gr.on(user_inputs, on_input, input_values, view_outputs, show_progress="minimal",
          **private).then(None, url, None, js=SYNC_URL_JS, **private)
    search.input(on_input, input_values, view_outputs, show_progress="hidden",
                 trigger_mode="always_last", **private).then(None, url, None, js=SYNC_URL_JS, **private)
    for button, step in ((prev_page, -1), (next_page, 1)):
        button.click(on_page(step), [query_state, row_state, *plot_inputs], view_outputs,
                     **private).then(None, url, None, js=SYNC_URL_JS, **private)
    clear.click(on_clear, [query_state, *plot_inputs], [*controls, *view_outputs, evaluated],
                **private).then(None, url, None, js=SYNC_URL_JS, **private)
    blocks.load(on_load, None, [*controls, *view_outputs, row_state, details, bars, evaluated], **private)
    table.select(on_select, [query_state, ids_state], [details, bars, row_state, url],
                 **private).then(None, url, None, js=SYNC_URL_JS, **private)
    plot_outputs = [plots_open, tradeoff, modality_plot, robust_plot]
    plots_tab.select(on_plots, [query_state, plot_kind, mod_set, mod_task], plot_outputs, **private)
    gr.on([plot_kind.input, mod_set.input, mod_task.input], on_plots, [query_state, plot_kind, mod_set, mod_task],
          plot_outputs, **private)
    table_tab.select(lambda: False, None, plots_open, **private)
    def on_log() -> tuple[Any, ...]:
        frame = changelog_frame(board)
        note = (LOG_NOTE if len(frame) else
                "No approval, rejection or withdrawal yet: the rows seeded with a new store are not events.")
        return False, frame, note

    log_tab.select(on_log, None, [plots_open, changelog, log_note], **private)
    copy.click(None, None, link, js=COPY_LINK_JS, **private).then(lambda: gr.Textbox(visible=True), None, link,
                                                                   **private)
    csv_button.click(on_csv, query_state, csv_file, **private)
    return {"table": table, "search": search, "count": caption, "controls": controls, "render": render,
            "on_input": on_input, "on_load": on_load}
