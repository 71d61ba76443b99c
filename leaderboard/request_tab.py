"""The Requests tab: ask the board to evaluate a Hub model, and the list of requests with their state.

The callbacks call :mod:`leaderboard.requests` and only format its answer (text the user typed, and a
worker's error, are escaped where they are shown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from leaderboard import requests as service
from leaderboard.requests import HubCheck, check_hub_model
from leaderboard.submissions import account_submitter
from leaderboard.views import md

if TYPE_CHECKING:
    from leaderboard.service import Leaderboard

SIGN_IN_TO_REQUEST = "Sign in with Hugging Face to request an evaluation"

REQUEST_COLUMNS = ["Request", "Status", "Model", "Commit", "Forget %", "Protocol", "Base model", "Method",
                   "Requester", "Row", "Error", "Updated"]

INTRO = (
    "Ask the board to evaluate a model on the Hub. The model must have `*.safetensors` weights and need no "
    "remote code (no `auto_map`); the revision (branch, tag or commit) is pinned to its commit when you ask. "
    "A worker on a GPU machine (`python -m probes.worker`) takes pending requests one at a time and runs "
    "`python -m probes.evaluate`; the result enters the Leaderboard marked **evaluated by the board**. "
    "A failed evaluation stays in the list below with its error."
)


def message_md(message: str) -> str:
    """An outcome's plain text as Markdown: every line escaped (it quotes what was typed), problems as a list."""
    first, *rest = message.split("\n")
    return "\n".join([md(first), *(f"- {md(line[2:])}" if line.startswith("- ") else md(line) for line in rest)])


def requests_frame(board: Leaderboard, *, limit: int = 200) -> pd.DataFrame:
    """The most recent requests, newest first, as the list shows them (plain text cells)."""
    rows = [[r.label, r.status.value, r.hub_repo, r.revision[:12], r.forget_ratio, r.protocol.value, r.base_model,
             r.method, r.requester, f"#{r.submission_id}" if r.submission_id else "", r.error or "",
             r.updated_at.strftime("%Y-%m-%d %H:%M") if r.updated_at else ""] for r in board.requests(limit=limit)]
    return pd.DataFrame(rows, columns=REQUEST_COLUMNS)


def build_request_tab(board: Leaderboard, *, sign_in: bool = False, known_bases: list[str] | None = None,
                      hub_check: HubCheck = check_hub_model, concurrency_limit: int = 2) -> dict[str, Any]:
    """Lay out the Requests tab inside the current ``gr.Tab`` and wire its callbacks.

    Args:
        board: The leaderboard service.
        sign_in: Requesting needs a Hugging Face sign-in (a Space with OAuth); the account is the requester.
        known_bases: Base models offered in the dropdown (any Hub id may be typed).
        hub_check: Resolves the revision and checks the model's files (tests use the offline cache).
        concurrency_limit: Requests checked at once (each may call the Hub).

    Returns:
        The components tests refer to.
    """
    gr.Markdown(INTRO)
    if sign_in:
        # One sign-in button serves the whole page (the Submit tab's): the session is signed in, not the tab.
        gr.Markdown(f"**{SIGN_IN_TO_REQUEST}** (the button in the Submit tab). The request records your account "
                    "(`hf:<user name>`); the submission limit counts requests per account.")
    with gr.Row():
        hub_repo = gr.Textbox(label="Hub model id", placeholder="owner/name", elem_id="req-hub-repo", scale=2)
        revision = gr.Textbox(label="Revision", placeholder="main (pinned to its commit)", elem_id="req-revision")
        base_model = gr.Dropdown(known_bases or [], value=None, label="Base model", allow_custom_value=True,
                                 elem_id="req-base-model")
        method = gr.Textbox(label="Method", placeholder="vanilla, GA, NPO, ...", elem_id="req-method")
    with gr.Row():
        forget_ratio = gr.Radio(["5", "10", "15"], value="10", label="Forget ratio %", elem_id="req-forget-ratio")
        protocol = gr.Radio(["official", "strict"], value="official", label="Protocol", elem_id="req-protocol")
        if sign_in:
            requester = gr.Textbox(label="Requester", value="your Hugging Face account (hf:<user name>)",
                                   interactive=False, elem_id="req-requester")
        else:
            requester = gr.Textbox(label="Requester", placeholder="your name or Hub user", elem_id="req-requester")
    ask = gr.Button("Request an evaluation", variant="primary", elem_id="req-submit")
    status = gr.Markdown(elem_id="req-status")
    with gr.Row():
        gr.Markdown("### Requests (newest first)")
        refresh = gr.Button("Refresh", size="sm", scale=0, elem_id="req-refresh")
    table = gr.Dataframe(value=pd.DataFrame(columns=REQUEST_COLUMNS), interactive=False, show_label=False,
                         wrap=True, elem_id="req-list")
    form = [hub_repo, revision, base_model, method, forget_ratio, protocol, requester]
    names = ["hub_repo", "revision", "base_model", "method", "forget_ratio", "protocol", "requester"]

    def answer(fields: dict[str, Any]) -> tuple[str, pd.DataFrame]:
        outcome = service.request_evaluation(board, fields, hub_check=hub_check)
        return message_md(outcome.message), requests_frame(board)

    def on_ask(*values: Any) -> tuple[str, pd.DataFrame]:
        return answer(dict(zip(names, values, strict=True)))

    private: dict[str, Any] = {"api_visibility": "private"}
    if sign_in:
        def on_ask_signed(data: dict[Any, Any], profile: gr.OAuthProfile | None) -> tuple[str, Any]:
            who = account_submitter(profile)
            if who is None:
                return f"Not accepted: {SIGN_IN_TO_REQUEST} (the button in the Submit tab).", gr.skip()
            return answer({**{n: data[c] for n, c in zip(names, form, strict=True)}, "requester": who})

        ask.click(on_ask_signed, set(form), [status, table], concurrency_id="request",
                  concurrency_limit=concurrency_limit, **private)
    else:
        ask.click(on_ask, form, [status, table], concurrency_id="request", concurrency_limit=concurrency_limit,
                  **private)
    refresh.click(lambda: requests_frame(board), None, table, **private)
    return {"table": table, "status": status, "refresh": refresh, "on_ask": on_ask}
