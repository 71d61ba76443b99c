"""The Submit tab: upload a result file, fill in metadata, preview the parsed cells, confirm; and moderation.

The callbacks call the services of :mod:`leaderboard.submissions` and turn
their typed outcomes into what the page shows (:func:`outcome_markdown`, with
every piece of submitted text escaped); :func:`build_submit_tab` lays the page
out. Moderation needs the admin token from the settings (compared in constant
time on every action, not only when the panel opens), or, on a Space, a
Hugging Face login whose user name is in ``admin_users``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from benchmark.vocabulary import EvalSet
from leaderboard import submissions
from leaderboard.store import Status
from leaderboard.submissions import (
    MAX_REASON_CHARS,
    ModerationOutcome,
    TokenThrottle,
    UploadOutcome,
    authorized,
    check_admin,
)
from leaderboard.table import HEADLINE_KEYS, MODALITY_LABELS, SET_LABELS, TASK_LABELS, is_vanilla
from leaderboard.views import md

if TYPE_CHECKING:
    from leaderboard.ingest import ParsedUpload
    from leaderboard.service import Leaderboard
    from leaderboard.store import StoredSubmission

__all__ = ["authorized", "build_submit_tab", "metadata_from_form", "pending_frame", "preview_signed_in",
           "preview_upload", "submit_signed_in", "submit_upload"]

FORM_FIELDS: dict[str, str] = {
    "model_name": "Model name",
    "base_model": "Base model",
    "method": "Method",
    "forget_ratio": "Forget ratio",
    "unlearning_modality": "Unlearning modality",
    "protocol": "Protocol",
    "protocol_version": "Protocol version",
    "submitter": "Submitter",
    "link": "Paper or code link",
    "hub_repo": "Hub repo",
    "hub_revision": "Hub revision",
    "notes": "Notes",
}
"""Metadata fields of the form, in order, with their labels (used in error messages)."""

NOT_REPORTED = "not reported"
CELL_COLUMNS = ["set", "task", "modality", "metric", "value", "unit", "n", "95% CI"]


@dataclass(frozen=True)
class UploadView:
    """What the page shows after a preview or a submission."""

    ok: bool
    """True when the upload validated (preview) or was stored (submit)."""
    message: str
    """Markdown: the status, or every problem with the field it concerns (submitted text escaped)."""
    cells: pd.DataFrame
    """The parsed cells (empty on failure and after a submission)."""
    submission_id: int | None = None
    """The new id, after a successful submission."""


def metadata_from_form(values: Mapping[str, Any]) -> dict[str, Any]:
    """The form's metadata, only the fields given (blank text and "not reported" are "not given")."""
    out: dict[str, Any] = {}
    for name in FORM_FIELDS:
        value = values.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, "", NOT_REPORTED):
            continue
        if name == "forget_ratio":
            with contextlib.suppress(TypeError, ValueError):  # else left for validation to report
                value = int(value)
        out[name] = value
    return out


def _field_label(field: str) -> str:
    name = field.removeprefix("metadata.")
    return f"{FORM_FIELDS[name]} (`{field}`)" if name in FORM_FIELDS else f"`{md(field)}`"


def cells_frame(upload: ParsedUpload) -> pd.DataFrame:
    """The parsed cells as a table (set with its direction, task, modality, metric, value, n, interval)."""
    rows = []
    for cell in upload.submission.cells:
        rows.append(
            {
                "set": f"{SET_LABELS[cell.set]} {'↓' if cell.set.lower_is_better else '↑'}",
                "task": TASK_LABELS[cell.task],
                "modality": MODALITY_LABELS[cell.modality],
                "metric": cell.metric,
                "value": cell.value,
                "unit": cell.unit.value,
                "n": cell.n,
                "95% CI": f"{cell.ci_low:.4g} – {cell.ci_high:.4g}" if cell.ci_low is not None else "",
            }
        )
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def outcome_markdown(outcome: UploadOutcome) -> str:
    """An upload outcome as Markdown: every problem with its field, or the status (submitted text escaped)."""
    if outcome.problems:
        lines = [f"**Not accepted: {len(outcome.problems)} problem(s); nothing was stored.**", ""]
        return "\n".join(lines + [f"- {_field_label(i.field)}: {md(i.message)}" for i in outcome.problems])
    if outcome.refusal is not None:
        return f"**Not accepted:** {md(outcome.refusal)}"
    if outcome.stored_robustness is not None:
        r = outcome.stored_robustness
        return (f"**Robustness file stored as {r.label}** for #{r.submission_id} ({r.status.value}): it shows on "
                "the row once a moderator approves it.")
    if outcome.stored is not None:
        return (f"**Submitted as #{outcome.stored.id}** ({outcome.stored.status.value}): it enters the leaderboard "
                "once a moderator approves it.")
    assert outcome.upload is not None
    upload = outcome.upload
    meta = upload.submission.metadata
    lines = [
        f"**Valid.** {len(upload.submission.cells)} cell(s) read from the {upload.source_format.value} file "
        f"for **{md(meta.model_name)}** ({md(meta.method)}, forget {meta.forget_ratio} %, "
        f"{meta.protocol.value} protocol). Check them below, then confirm.",
    ]
    lines += [f"- note: {md(w)}" for w in upload.warnings]
    if outcome.robustness is not None:
        lines.append(f"- {md(submissions.robustness_line(outcome.robustness).strip())}")
    return "\n".join(lines)


def _view(outcome: UploadOutcome) -> UploadView:
    cells = cells_frame(outcome.upload) if outcome.upload is not None else pd.DataFrame(columns=CELL_COLUMNS)
    return UploadView(outcome.ok, outcome_markdown(outcome), cells, outcome.submission_id)


def robustness_upload(board: Leaderboard, submission_id: object, robustness: str | Path | None) -> UploadView:
    """Add an uploaded robustness file (a path) to an existing row, pending moderation."""
    data, name = _read(robustness)
    return _view(submissions.submit_robustness(board, submission_id, data, filename=name))


def robustness_signed_in(board: Leaderboard, profile: object, submission_id: object,
                         robustness: str | Path | None) -> UploadView:
    """:func:`robustness_upload` on a Space with OAuth: only for a signed-in Hugging Face account, as submitting."""
    if submissions.account_submitter(profile) is None:
        return UploadView(False, f"**Not accepted:** {submissions.SIGN_IN_TO_SUBMIT} a robustness file (the button "
                          "above the form); nothing was stored.", pd.DataFrame(columns=CELL_COLUMNS))
    return robustness_upload(board, submission_id, robustness)


def _read(path: str | Path | None) -> tuple[bytes | None, str | None]:
    if not path:
        return None, None
    p = Path(path)
    return p.read_bytes(), p.name


def preview_upload(
    board: Leaderboard,
    results: str | Path | None,
    samples: str | Path | None,
    metadata: Mapping[str, Any],
    *,
    accuracy_unit: str = "percent",
    robustness: str | Path | None = None,
) -> UploadView:
    """Validate the uploaded files (paths, as Gradio gives them) and show what would be stored."""
    data, name = _read(results)
    robust, robust_name = _read(robustness)
    outcome = submissions.preview(board, data, metadata=metadata, samples=_read(samples)[0], filename=name,
                                  accuracy_unit=accuracy_unit, robustness=robust, robustness_filename=robust_name)
    return _view(outcome)


def submit_upload(
    board: Leaderboard,
    results: str | Path | None,
    samples: str | Path | None,
    metadata: Mapping[str, Any],
    *,
    accuracy_unit: str = "percent",
    robustness: str | Path | None = None,
) -> UploadView:
    """Validate and store the uploaded files (paths) as pending; the message gives the id, or every problem."""
    data, name = _read(results)
    robust, robust_name = _read(robustness)
    outcome = submissions.submit(board, data, metadata=metadata, samples=_read(samples)[0], filename=name,
                                 accuracy_unit=accuracy_unit, robustness=robust,
                                 robustness_filename=robust_name)
    return _view(outcome)  # a stored outcome carries no parsed upload, so no cells are shown


def submit_signed_in(
    board: Leaderboard,
    profile: object,
    results: str | Path | None,
    samples: str | Path | None,
    metadata: Mapping[str, Any],
    *,
    accuracy_unit: str = "percent",
    robustness: str | Path | None = None,
) -> UploadView:
    """:func:`submit_upload` as the signed-in Hugging Face account (``hf:<user>``); refused when signed out.

    On a Space with OAuth the typed submitter is ignored: the row records the account, so the rate limit
    counts per account and renaming does not get around it.
    """
    signed = submissions.as_account(metadata, profile)
    if signed is None:
        return UploadView(False, f"**Not accepted:** {submissions.SIGN_IN_TO_SUBMIT} (the button above the form); "
                          "nothing was stored.", pd.DataFrame(columns=CELL_COLUMNS))
    return submit_upload(board, results, samples, signed, accuracy_unit=accuracy_unit, robustness=robustness)


def preview_signed_in(
    board: Leaderboard,
    profile: object,
    results: str | Path | None,
    samples: str | Path | None,
    metadata: Mapping[str, Any],
    *,
    accuracy_unit: str = "percent",
    robustness: str | Path | None = None,
) -> UploadView:
    """:func:`preview_upload` with the submitter the signed-in account; signed out, it previews and says to sign in."""
    signed = submissions.as_account(metadata, profile)
    view = preview_upload(board, results, samples, signed or {**metadata, "submitter": "hf:(not signed in)"},
                          accuracy_unit=accuracy_unit, robustness=robustness)
    if signed is None and view.ok:
        return UploadView(view.ok, f"{view.message}\n- {submissions.SIGN_IN_TO_SUBMIT}.", view.cells)
    return view


def set_means(values: Mapping[str, float]) -> dict[EvalSet, float | None]:
    """Mean headline value per set (0-100) of ``values`` (cell id -> value on 0-100); None for a set with none."""
    out: dict[EvalSet, float | None] = {}
    for eval_set in EvalSet:
        present = [values[k.id] for k in HEADLINE_KEYS if k.set is eval_set and k.id in values]
        out[eval_set] = sum(present) / len(present) if present else None
    return out


def _vanilla_values(board: Leaderboard, stored: StoredSubmission) -> tuple[int | None, dict[str, float]]:
    """The approved vanilla row matching ``stored``, and its headline values (0-100).

    Matching: real rows (reference or submission) of the same protocol, base model and forget ratio; among
    several, the one sharing the most headline cells with ``stored``.
    """
    meta = stored.submission.metadata
    frame = board.table(meta.protocol).frame
    candidates = frame[is_vanilla(frame["method"], frame["unlearning_modality"])
                       & (frame["base_model"] == meta.base_model) & (frame["forget_ratio"] == meta.forget_ratio)
                       & (frame.index != stored.id)]
    if candidates.empty:
        return None, {}
    ids = [c.key.id for c in stored.submission.cells if c.key.id in frame.columns]
    shared = candidates[ids].notna().sum(axis=1) if ids else pd.Series(0, index=candidates.index)
    best = int(shared.sort_values(ascending=False, kind="stable").index[0])
    row = frame.loc[best]
    return best, {k.id: float(row[k.id]) for k in HEADLINE_KEYS if pd.notna(row[k.id])}


def _with_delta(value: float | None, delta: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if delta is None else f"{value:.1f} ({delta:+.1f})"


def _set_header(eval_set: EvalSet) -> str:
    return f"{SET_LABELS[eval_set]} {'↓' if eval_set.lower_is_better else '↑'} (Δ vanilla)"


def pending_frame(board: Leaderboard) -> pd.DataFrame:
    """Pending submissions, oldest first, with the values a moderator needs (submitted text escaped).

    Per set: the mean headline value (0-100) and, in brackets, its difference from the matching vanilla
    row (same protocol, base model and forget ratio) over the cells both report.
    """
    rows = []
    for s in board.submissions(Status.PENDING):
        meta = s.submission.metadata
        values = {c.key.id: c.value * c.unit.to_percent for c in s.submission.cells}
        vanilla_id, vanilla = _vanilla_values(board, s)
        own = set_means(values)
        # The difference is taken over the cells both rows report, so missing cells do not move it.
        mine = set_means({k: v for k, v in values.items() if k in vanilla})
        theirs = set_means({k: v for k, v in vanilla.items() if k in values})
        row: dict[str, Any] = {
            "ID": s.id,
            "Model": md(meta.model_name),
            "Method": md(meta.method),
            "Base model": md(meta.base_model),
            "Forget %": meta.forget_ratio,
            "Protocol": meta.protocol.value,
            "Cells": len(s.submission.cells),
        }
        for eval_set in EvalSet:
            a, b = mine[eval_set], theirs[eval_set]
            row[_set_header(eval_set)] = _with_delta(own[eval_set], None if a is None or b is None else a - b)
        row["Vanilla"] = f"#{vanilla_id}" if vanilla_id is not None else "none"
        row["Submitter"] = md(meta.submitter)
        row["File"] = md(s.filename or "")
        row["Submitted"] = f"{s.created_at:%Y-%m-%d %H:%M}"
        rows.append(row)
    return pd.DataFrame(rows, columns=PENDING_COLUMNS)


PENDING_COLUMNS = ["ID", "Model", "Method", "Base model", "Forget %", "Protocol", "Cells",
                   *[_set_header(s) for s in EvalSet],
                   "Vanilla", "Submitter", "File", "Submitted"]
PENDING_TYPES = ["number", "markdown", "markdown", "markdown", "number", "str", "number", "str", "str", "str", "str",
                 "str", "markdown", "markdown", "str"]


ROBUSTNESS_PENDING_COLUMNS = ["File id", "Row", "Model", "Attacks", "Forget under strongest attack",
                              "Highest recovery %", "Replaces", "File", "Submitted"]
ROBUSTNESS_PENDING_TYPES = ["str", "str", "markdown", "number", "str", "str", "str", "markdown", "str"]


def pending_robustness_frame(board: Leaderboard) -> pd.DataFrame:
    """Robustness files added to rows and waiting for a moderator, oldest first (submitted text escaped)."""
    from leaderboard.robustness import summarise

    rows = []
    for r in board.pending_robustness():
        result = r.result
        summary = summarise(result)
        current = board.robustness(r.submission_id)
        best = summary["recovery_max"]
        rows.append({
            "File id": r.label,
            "Row": f"#{r.submission_id}",
            "Model": md(result.metadata.model_name),
            "Attacks": summary["attacks"],
            "Forget under strongest attack": f"{summary['worst_forget']:.1f} ({summary['worst_attack']})",
            "Highest recovery %": "—" if best is None else f"{best:.0f}",
            "Replaces": current.label if current is not None else "none",
            "File": md(r.filename or ""),
            "Submitted": f"{r.created_at:%Y-%m-%d %H:%M}",
        })
    return pd.DataFrame(rows, columns=ROBUSTNESS_PENDING_COLUMNS)


def moderation_markdown(outcome: ModerationOutcome) -> str:
    """A moderation outcome as one Markdown line (the model name escaped)."""
    return f"**{md(outcome.message)}**"


# --------------------------------------------------------------------------- the tab


def build_submit_tab(
    board: Leaderboard,
    *,
    admin_token: str | None,
    admin_users: tuple[str, ...] = (),
    oauth: bool = False,
    sign_in: bool = False,
    known_bases: list[str] | None = None,
    throttle: TokenThrottle | None = None,
    submit_concurrency: int = 2,
) -> dict[str, Any]:
    """Lay out the Submit tab inside the current ``gr.Tab`` and wire its callbacks.

    Args:
        board: The leaderboard service.
        admin_token: The moderation token (moderation by token is off when None).
        admin_users: Hugging Face user names allowed to moderate when signed in (``oauth``).
        oauth: Show a Hugging Face sign-in button (on a Space with ``hf_oauth: true``).
        sign_in: Submitting needs a Hugging Face sign-in, and the row records the account as ``hf:<user>``
            (on a Space with ``hf_oauth: true``); adding a robustness file to a row needs it too. Off, the
            form's Submitter field is used (local runs).
        known_bases: Base models offered in the form (any other can be typed).
        throttle: Counts wrong admin tokens (shared with the API); a fresh one by default.
        submit_concurrency: Submissions and moderation actions run at once (their own queue group).
    """
    throttle = throttle or TokenThrottle()
    gr.Markdown(
        "Upload an upstream `*_final_evaluation_results.json` (from MLLMU-Bench's `eval.py`) or the "
        "`*.submission.json` written by `python -m probes.evaluate`, optionally with its `samples.jsonl` "
        "(confidence intervals are computed from it). Upstream files carry no metadata: fill in the form "
        "(model name, base model, method, forget ratio and submitter are required; nothing is assumed). "
        "For a submission file, blank fields are read from the file and filled ones replace them. "
        "**Preview** checks everything and shows the parsed cells; nothing is stored until you **Submit**. "
        "Submissions are pending until a moderator approves them."
    )
    if sign_in:
        with gr.Row():
            gr.Markdown("**Sign in with Hugging Face to submit.** The submission records your account "
                        "(`hf:<user name>`) as the submitter; the submission limit counts per account.")
            gr.LoginButton(scale=0)
    with gr.Row():
        results = gr.File(label="Results file (.json)", file_types=[".json"], elem_id="submit-results")
        samples = gr.File(label="Samples (.jsonl, optional)", file_types=[".jsonl"], elem_id="submit-samples")
        robustness = gr.File(label="Robustness file (optional, from python -m probes.stress)", file_types=[".json"],
                             elem_id="submit-robustness")
    with gr.Row():
        model_name = gr.Textbox(label="Model name", elem_id="submit-model-name")
        # No value is pre-filled: a Dropdown without one would select its first choice, silently.
        base_model = gr.Dropdown(known_bases or [], value=None, label="Base model", allow_custom_value=True,
                                 elem_id="submit-base-model", info="Required for upstream files; type any Hub id.")
        method = gr.Textbox(label="Method", placeholder="vanilla, GA, NPO, ...", elem_id="submit-method")
        forget_ratio = gr.Dropdown(["5", "10", "15"], value=None, label="Forget ratio %",
                                   elem_id="submit-forget-ratio", info="Required for upstream files.")
    with gr.Row():
        umod = gr.Dropdown([NOT_REPORTED, "multimodal", "text", "none"], value=NOT_REPORTED,
                           label="Unlearning modality (none = vanilla)", elem_id="submit-umod")
        protocol = gr.Dropdown(["official", "strict"], value=None, label="Protocol", elem_id="submit-protocol",
                               info="Blank: upstream files are official; submission files say theirs.")
        protocol_version = gr.Textbox(label="Protocol version", placeholder="blank: 'upstream' for eval.py files")
        if sign_in:
            submitter = gr.Textbox(label="Submitter", value="your Hugging Face account (hf:<user name>)",
                                   interactive=False, elem_id="submit-submitter")
        else:
            submitter = gr.Textbox(label="Submitter", elem_id="submit-submitter")
    with gr.Row():
        link = gr.Textbox(label="Paper or code link", placeholder="https://...")
        hub_repo = gr.Textbox(label="Hub repo", placeholder="owner/name")
        hub_revision = gr.Textbox(label="Hub revision")
        accuracy_unit = gr.Radio(["percent", "fraction"], value="percent", label="Accuracies in the file are")
    notes = gr.Textbox(label="Notes", lines=2)
    with gr.Row():
        preview_btn = gr.Button("Preview", elem_id="submit-preview")
        submit_btn = gr.Button("Submit", variant="primary", elem_id="submit-confirm")
    status = gr.Markdown(elem_id="submit-status")
    cells = gr.Dataframe(value=pd.DataFrame(columns=CELL_COLUMNS), interactive=False, label="Parsed cells",
                         elem_id="submit-cells")

    form = [model_name, base_model, method, forget_ratio, umod, protocol, protocol_version, submitter, link,
            hub_repo, hub_revision, notes]

    def _meta(values: tuple[Any, ...]) -> dict[str, Any]:
        return metadata_from_form(dict(zip(FORM_FIELDS, values, strict=True)))

    def on_preview(results_path: str | None, samples_path: str | None, robust_path: str | None, unit: str,
                   *values: Any) -> tuple[str, Any]:
        outcome = preview_upload(board, results_path, samples_path, _meta(values), accuracy_unit=unit,
                                 robustness=robust_path)
        return outcome.message, outcome.cells

    def on_submit(results_path: str | None, samples_path: str | None, robust_path: str | None, unit: str,
                  *values: Any) -> tuple[str, Any]:
        outcome = submit_upload(board, results_path, samples_path, _meta(values), accuracy_unit=unit,
                                robustness=robust_path)
        return outcome.message, outcome.cells

    inputs = [results, samples, robustness, accuracy_unit, *form]
    if sign_in:
        # Gradio injects the signed-in profile (None when signed out); the inputs come as one dict.
        def _files(data: dict[Any, Any]) -> tuple[Any, ...]:
            return data[results], data[samples], data[robustness], _meta(tuple(data[c] for c in form))

        def on_preview_signed(data: dict[Any, Any], profile: gr.OAuthProfile | None) -> tuple[str, Any]:
            res, smp, rob, meta = _files(data)
            view = preview_signed_in(board, profile, res, smp, meta, accuracy_unit=data[accuracy_unit],
                                     robustness=rob)
            return view.message, view.cells

        def on_submit_signed(data: dict[Any, Any], profile: gr.OAuthProfile | None) -> tuple[str, Any]:
            res, smp, rob, meta = _files(data)
            view = submit_signed_in(board, profile, res, smp, meta, accuracy_unit=data[accuracy_unit],
                                    robustness=rob)
            return view.message, view.cells

        preview_btn.click(on_preview_signed, set(inputs), [status, cells], api_visibility="private")
        submit_btn.click(on_submit_signed, set(inputs), [status, cells], api_visibility="private",
                         concurrency_id="submit", concurrency_limit=submit_concurrency)
    else:
        preview_btn.click(on_preview, inputs, [status, cells], api_visibility="private")
        submit_btn.click(on_submit, inputs, [status, cells], api_visibility="private",
                         concurrency_id="submit", concurrency_limit=submit_concurrency)

    with gr.Accordion("Add a robustness file to a row already on the board", open=False, elem_id="add-robustness"):
        gr.Markdown("A `*.robustness.json` from `python -m probes.stress` for the row's model, forget ratio and "
                    "protocol. It is pending until a moderator approves it; a row shows one file, the newest "
                    "approved (older ones are kept).")
        with gr.Row():
            robust_row = gr.Number(label="Row id (the # in the row's details)", precision=0, minimum=1,
                                   elem_id="robust-row")
            robust_file = gr.File(label="Robustness file (.json)", file_types=[".json"], elem_id="robust-file")
        robust_btn = gr.Button("Submit robustness file", elem_id="robust-submit")
        robust_status = gr.Markdown(elem_id="robust-status")

    def on_robustness(row: float | None, path: str | None) -> str:
        return robustness_upload(board, row, path).message

    def on_robustness_signed(row: float | None, path: str | None, profile: gr.OAuthProfile | None) -> str:
        return robustness_signed_in(board, profile, row, path).message

    robust_btn.click(on_robustness_signed if sign_in else on_robustness, [robust_row, robust_file], robust_status,
                     api_visibility="private", concurrency_id="submit", concurrency_limit=submit_concurrency)

    with gr.Accordion("Moderation (admins)", open=False, elem_id="moderation"):
        if admin_token is None and not (oauth and admin_users):
            gr.Markdown("Moderation is off on this server: start it with `--admin-token` (or `MLLMU_ADMIN_TOKEN`).")
            return {"results": results, "status": status}
        with gr.Row():
            token = gr.Textbox(label="Admin token", type="password", elem_id="mod-token", scale=3)
            unlock = gr.Button("Show pending", elem_id="mod-unlock", scale=1)
            if oauth and not sign_in:  # with sign_in the button is above the form already
                gr.LoginButton(scale=1)
        mod_status = gr.Markdown(elem_id="mod-status")
        legend = gr.Markdown("Each set's mean headline value (0–100), and in brackets its difference from the matching "
                    "vanilla row over the cells both report. Select a row to fill its id.", visible=False,
                    elem_id="mod-legend")
        pending = gr.Dataframe(value=None, datatype=PENDING_TYPES, interactive=False,  # type: ignore[arg-type]
                               label="Pending submissions", elem_id="mod-pending", visible=False)
        with gr.Row(visible=False) as actions:
            sub_id = gr.Number(label="Submission id", precision=0, minimum=1, elem_id="mod-id")
            reason = gr.Textbox(label="Reason (optional)", max_length=MAX_REASON_CHARS, elem_id="mod-reason")
            approve = gr.Button("Approve", variant="primary", elem_id="mod-approve")
            reject = gr.Button("Reject", variant="stop", elem_id="mod-reject")
            withdraw = gr.Button("Withdraw", elem_id="mod-withdraw")
            refresh = gr.Button("Refresh list", size="sm", elem_id="mod-refresh")
        robust_pending = gr.Dataframe(value=None, datatype=ROBUSTNESS_PENDING_TYPES,  # type: ignore[arg-type]
                                      interactive=False, label="Pending robustness files (added to existing rows)",
                                      elem_id="mod-robust-pending", visible=False)
        with gr.Row(visible=False) as robust_actions:
            robust_id = gr.Textbox(label="Robustness file id (R12)", elem_id="mod-robust-id")
            robust_approve = gr.Button("Approve file", variant="primary", elem_id="mod-robust-approve")
            robust_reject = gr.Button("Reject file", variant="stop", elem_id="mod-robust-reject")
        ids_state = gr.State([])

        def denied(tok: str | None, request: gr.Request | None, profile: Any) -> str | None:
            client = submissions.client_address(request)
            user = getattr(profile, "username", None)
            return check_admin(throttle, client, admin_token, tok, user, admin_users)

        def listing(message: str) -> tuple[Any, ...]:
            frame = pending_frame(board)
            files = pending_robustness_frame(board)
            text = f"{message} {len(frame)} pending submission(s), {len(files)} pending robustness file(s).".strip()
            return (text, gr.Dataframe(value=frame, visible=True), frame["ID"].tolist(), gr.Row(visible=True),
                    gr.Markdown(visible=True), gr.Dataframe(value=files, visible=True), gr.Row(visible=True))

        def closed(message: str) -> tuple[Any, ...]:
            return (f"**{md(message)}.**", gr.Dataframe(visible=False), [], gr.Row(visible=False),
                    gr.Markdown(visible=False), gr.Dataframe(visible=False), gr.Row(visible=False))

        def on_unlock(tok: str | None, request: gr.Request, profile: Any = None) -> tuple[Any, ...]:
            problem = denied(tok, request, profile)
            return closed(problem) if problem else listing("")

        def on_action(action: str) -> Any:
            def act(tok: str | None, sid: float | str | None, why: str | None, request: gr.Request,
                    profile: Any = None) -> tuple[Any, ...]:
                problem = denied(tok, request, profile)
                if problem:
                    return closed(problem)
                outcome = submissions.moderate(board, sid, action, why)
                return listing(moderation_markdown(outcome))

            return act

        def on_pick(ids: list[int], evt: gr.SelectData) -> Any:
            index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return ids[index] if isinstance(index, int) and 0 <= index < len(ids) else gr.skip()

        if oauth:
            def unlock_oauth(tok: str | None, request: gr.Request, profile: gr.OAuthProfile | None) -> tuple[Any, ...]:
                return on_unlock(tok, request, profile)

            def action_oauth(action: str) -> Any:
                def act(tok: str | None, sid: float | str | None, why: str | None, request: gr.Request,
                        profile: gr.OAuthProfile | None) -> tuple[Any, ...]:
                    return on_action(action)(tok, sid, why, request, profile)

                return act

            handlers = {"unlock": unlock_oauth, **{a: action_oauth(a) for a in submissions.ACTIONS}}
        else:
            handlers = {"unlock": on_unlock, **{a: on_action(a) for a in submissions.ACTIONS}}
        panel = [mod_status, pending, ids_state, actions, legend, robust_pending, robust_actions]
        gr.on([unlock.click, refresh.click, token.submit], handlers["unlock"], token, panel, api_visibility="private")
        for button, action in ((approve, "approve"), (reject, "reject"), (withdraw, "withdraw")):
            button.click(handlers[action], [token, sub_id, reason], panel, api_visibility="private",
                         concurrency_id="submit", concurrency_limit=submit_concurrency)
        for button, action in ((robust_approve, "approve"), (robust_reject, "reject")):
            button.click(handlers[action], [token, robust_id, reason], panel, api_visibility="private",
                         concurrency_id="submit", concurrency_limit=submit_concurrency)
        pending.select(on_pick, ids_state, sub_id, api_visibility="private")
    return {"results": results, "status": status, "pending": pending}
