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

from leaderboard import submissions
from leaderboard.store import Status
from leaderboard.submissions import ModerationOutcome, UploadOutcome, authorized
from leaderboard.tab import md
from leaderboard.table import MODALITY_LABELS, SET_LABELS, TASK_LABELS

if TYPE_CHECKING:
    from leaderboard.ingest import ParsedUpload
    from leaderboard.service import Leaderboard

__all__ = ["authorized", "build_submit_tab", "metadata_from_form", "pending_frame", "preview_upload", "submit_upload"]

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
    return "\n".join(lines)


def _view(outcome: UploadOutcome) -> UploadView:
    cells = cells_frame(outcome.upload) if outcome.upload is not None else pd.DataFrame(columns=CELL_COLUMNS)
    return UploadView(outcome.ok, outcome_markdown(outcome), cells, outcome.submission_id)


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
) -> UploadView:
    """Validate the uploaded files (paths, as Gradio gives them) and show what would be stored."""
    data, name = _read(results)
    outcome = submissions.preview(board, data, metadata=metadata, samples=_read(samples)[0], filename=name,
                                  accuracy_unit=accuracy_unit)
    return _view(outcome)


def submit_upload(
    board: Leaderboard,
    results: str | Path | None,
    samples: str | Path | None,
    metadata: Mapping[str, Any],
    *,
    accuracy_unit: str = "percent",
) -> UploadView:
    """Validate and store the uploaded files (paths) as pending; the message gives the id, or every problem."""
    data, name = _read(results)
    outcome = submissions.submit(board, data, metadata=metadata, samples=_read(samples)[0], filename=name,
                                 accuracy_unit=accuracy_unit)
    return _view(outcome)  # a stored outcome carries no parsed upload, so no cells are shown


def pending_frame(board: Leaderboard) -> pd.DataFrame:
    """Pending submissions, oldest first, submitted text Markdown-escaped."""
    rows = []
    for s in board.submissions(Status.PENDING):
        meta = s.submission.metadata
        rows.append(
            {
                "ID": s.id,
                "Model": md(meta.model_name),
                "Method": md(meta.method),
                "Base model": md(meta.base_model),
                "Forget %": meta.forget_ratio,
                "Protocol": meta.protocol.value,
                "Submitter": md(meta.submitter),
                "Cells": len(s.submission.cells),
                "File": md(s.filename or ""),
                "Submitted": f"{s.created_at:%Y-%m-%d %H:%M}",
            }
        )
    columns = ["ID", "Model", "Method", "Base model", "Forget %", "Protocol", "Submitter", "Cells", "File", "Submitted"]
    return pd.DataFrame(rows, columns=columns)


PENDING_TYPES = ["number", "markdown", "markdown", "markdown", "number", "str", "markdown", "number", "markdown", "str"]


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
    known_bases: list[str] | None = None,
) -> dict[str, Any]:
    """Lay out the Submit tab inside the current ``gr.Tab`` and wire its callbacks.

    Args:
        board: The leaderboard service.
        admin_token: The moderation token (moderation by token is off when None).
        admin_users: Hugging Face user names allowed to moderate when signed in (``oauth``).
        oauth: Show a Hugging Face sign-in button (on a Space with ``hf_oauth: true``).
        known_bases: Base models offered in the form (any other can be typed).
    """
    gr.Markdown(
        "Upload an upstream `*_final_evaluation_results.json` (from MLLMU-Bench's `eval.py`) or the "
        "`*.submission.json` written by `python -m probes.evaluate`, optionally with its `samples.jsonl` "
        "(confidence intervals are computed from it). Upstream files carry no metadata: fill in the form. "
        "**Preview** checks everything and shows the parsed cells; nothing is stored until you **Submit**. "
        "Submissions are pending until a moderator approves them."
    )
    with gr.Row():
        results = gr.File(label="Results file (.json)", file_types=[".json"], elem_id="submit-results")
        samples = gr.File(label="Samples (.jsonl, optional)", file_types=[".jsonl"], elem_id="submit-samples")
    with gr.Row():
        model_name = gr.Textbox(label="Model name", elem_id="submit-model-name")
        base_model = gr.Dropdown(known_bases or [], label="Base model", allow_custom_value=True,
                                 elem_id="submit-base-model")
        method = gr.Textbox(label="Method", placeholder="vanilla, GA, NPO, ...", elem_id="submit-method")
        forget_ratio = gr.Dropdown(["5", "10", "15"], value="5", label="Forget ratio %", elem_id="submit-forget-ratio")
    with gr.Row():
        umod = gr.Dropdown([NOT_REPORTED, "multimodal", "text", "none"], value=NOT_REPORTED,
                           label="Unlearning modality (none = vanilla)", elem_id="submit-umod")
        protocol = gr.Dropdown(["official", "strict"], value="official", label="Protocol", elem_id="submit-protocol")
        protocol_version = gr.Textbox(label="Protocol version", placeholder="blank: 'upstream' for eval.py files")
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

    def on_preview(results_path: str | None, samples_path: str | None, unit: str, *values: Any) -> tuple[str, Any]:
        outcome = preview_upload(board, results_path, samples_path, _meta(values), accuracy_unit=unit)
        return outcome.message, outcome.cells

    def on_submit(results_path: str | None, samples_path: str | None, unit: str, *values: Any) -> tuple[str, Any]:
        outcome = submit_upload(board, results_path, samples_path, _meta(values), accuracy_unit=unit)
        return outcome.message, outcome.cells

    preview_btn.click(on_preview, [results, samples, accuracy_unit, *form], [status, cells], api_visibility="private")
    submit_btn.click(on_submit, [results, samples, accuracy_unit, *form], [status, cells], api_visibility="private")

    with gr.Accordion("Moderation (admins)", open=False, elem_id="moderation"):
        if admin_token is None and not (oauth and admin_users):
            gr.Markdown("Moderation is off on this server: start it with `--admin-token` (or `MLLMU_ADMIN_TOKEN`).")
            return {"results": results, "status": status}
        with gr.Row():
            token = gr.Textbox(label="Admin token", type="password", elem_id="mod-token", scale=3)
            unlock = gr.Button("Show pending", elem_id="mod-unlock", scale=1)
            if oauth:
                gr.LoginButton(scale=1)
        mod_status = gr.Markdown(elem_id="mod-status")
        pending = gr.Dataframe(value=None, datatype=PENDING_TYPES, interactive=False, label="Pending submissions",  # type: ignore[arg-type]
                               elem_id="mod-pending", visible=False)
        with gr.Row(visible=False) as actions:
            sub_id = gr.Number(label="Submission id", precision=0, elem_id="mod-id")
            reason = gr.Textbox(label="Reason (optional)", elem_id="mod-reason")
            approve = gr.Button("Approve", variant="primary", elem_id="mod-approve")
            reject = gr.Button("Reject", variant="stop", elem_id="mod-reject")

        def allowed(tok: str | None, profile: Any = None) -> bool:
            user = getattr(profile, "username", None)
            return authorized(admin_token, tok, user, admin_users)

        def on_unlock(tok: str | None, profile: Any = None) -> tuple[Any, ...]:
            if not allowed(tok, profile):
                return "**Wrong admin token.**", gr.Dataframe(visible=False), gr.Row(visible=False)
            frame = pending_frame(board)
            return f"{len(frame)} pending submission(s).", gr.Dataframe(value=frame, visible=True), gr.Row(visible=True)

        def on_action(action: str) -> Any:
            def act(tok: str | None, sid: float | None, why: str | None, profile: Any = None) -> tuple[Any, ...]:
                if not allowed(tok, profile):
                    return "**Wrong admin token.**", gr.Dataframe(visible=False)
                outcome = submissions.moderate(board, sid, action, why)
                return moderation_markdown(outcome), gr.Dataframe(value=pending_frame(board), visible=True)

            return act

        if oauth:
            def unlock_oauth(tok: str | None, profile: gr.OAuthProfile | None) -> tuple[Any, ...]:
                return on_unlock(tok, profile)

            def approve_oauth(tok: str | None, sid: float | None, why: str | None,
                              profile: gr.OAuthProfile | None) -> tuple[Any, ...]:
                return on_action("approve")(tok, sid, why, profile)

            def reject_oauth(tok: str | None, sid: float | None, why: str | None,
                             profile: gr.OAuthProfile | None) -> tuple[Any, ...]:
                return on_action("reject")(tok, sid, why, profile)

            handlers: tuple[Any, Any, Any] = (unlock_oauth, approve_oauth, reject_oauth)
        else:
            handlers = (on_unlock, on_action("approve"), on_action("reject"))
        unlock.click(handlers[0], token, [mod_status, pending, actions], api_visibility="private")
        approve.click(handlers[1], [token, sub_id, reason], [mod_status, pending], api_visibility="private")
        reject.click(handlers[2], [token, sub_id, reason], [mod_status, pending], api_visibility="private")
    return {"results": results, "status": status, "pending": pending}
