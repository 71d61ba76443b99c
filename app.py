"""MLLMU-Bench Arena: the leaderboard, submissions, a side-by-side unlearning probe, and the About page.

``build_app(settings)`` builds the Gradio app from an :class:`~settings.AppSettings` and launches
nothing; ``python app.py [flags]`` (see ``python app.py --help``) builds it from flags and ``MLLMU_*``
environment variables and launches it. Importing this module does no work: the store is opened, the
registry read and the benchmark loaded when the app is built, and models load on first use.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from settings import AppSettings, load_settings

if TYPE_CHECKING:
    import gradio as gr

    from leaderboard.service import Leaderboard
    from leaderboard.submissions import TokenThrottle
    from probes.service import ProbeService

LOG = logging.getLogger("mllmu_arena")

SUBMIT_CONCURRENCY = 2
"""Submissions and moderation actions processed at once: their own group, so probes never hold them up."""

SESSION_CAPACITY = 1000
"""Browser sessions whose state the server keeps (Gradio's default is 10,000). Each holds a copy of the
page's component values, about 0.9 MiB here (``bench/leaderboard_scale.py --browser``), so this bounds the
server's memory; the oldest session is dropped first and its page falls back to the default view."""

CACHE_LIFETIME_S = 3600
"""Files Gradio serves (per-request CSV downloads) are deleted after this many seconds."""

TITLE = "MLLMU-Bench Arena"


@dataclass
class Services:
    """What the app's tabs talk to; tests build it with fakes (a fake model loader, a temp store)."""

    board: Leaderboard
    probe: ProbeService
    hub_check: Callable[[str, str], str] | None = None
    """Resolves an evaluation request's revision and checks the model's files (default: the Hub's, see
    :func:`leaderboard.requests.check_hub_model`)."""


def make_services(settings: AppSettings) -> Services:
    """Open the store and prepare the probe service (models and benchmark load lazily) from ``settings``."""
    from backend.zerogpu import prepare
    from leaderboard.service import Leaderboard, LeaderboardSettings
    from probes.models import ModelPool
    from probes.service import ProbeService

    prepare()  # on a ZeroGPU Space: import spaces before anything touches CUDA
    settings.db.parent.mkdir(parents=True, exist_ok=True)
    board = Leaderboard.open(LeaderboardSettings(db_path=settings.db, hub_dataset=settings.hub_dataset))
    pool = ModelPool(
        settings.models,
        quantize=settings.quantize,
        device=settings.device,
        memory_budget_bytes=int(settings.model_memory_gb * 2**30),
        cpu_limit_bytes=int(settings.cpu_model_max_gb * 2**30),
        allow_custom=settings.allow_custom_models,
        demo_only=cpu_space(),
    )
    probe = ProbeService(
        pool,
        data=settings.data,
        data_revision=settings.data_revision,
        forget_ratio=settings.forget_ratio,
        max_new_tokens=settings.max_new_tokens,
        time_limit_s=settings.answer_time_limit,
        default_left=settings.probe_left,
        default_right=settings.probe_right,
    )
    return Services(board, probe)


def cpu_space(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this is a Space without a GPU (``SPACE_ID`` set, no CUDA, not ZeroGPU).

    There the probe offers only the demo models, with a banner saying why (a 7B model on a Space's CPU would
    take minutes per answer), and refuses any other model before downloading it.
    """
    from backend.zerogpu import on_zero_gpu

    if not environ.get("SPACE_ID") or on_zero_gpu(environ):
        return False
    import torch

    return not torch.cuda.is_available()


def api_endpoint(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``fn`` answering ``{"ok": false, "error": ...}`` in plain text for any failure, instead of a bare error.

    Refusals a caller can fix (bad values) say what to change; anything unexpected is logged with its
    traceback on the server and answered with its type, never with server paths or a traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return fn(*args, **kwargs)
        except (ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "error": str(exc).strip("'\"") or type(exc).__name__}
        except Exception as exc:  # noqa: BLE001 - the API's contract is a structured answer for every failure
            LOG.exception("API call %s failed", fn.__name__)
            return {"ok": False, "error": f"internal error ({type(exc).__name__}); the server log has details"}

    return wrapper


def _api(services: Services, settings: AppSettings, throttle: TokenThrottle, *, sign_in: bool = False) -> None:
    """The named API endpoints.

    ``leaderboard``, ``changelog``, ``submit``, ``submit_robustness``, ``moderate`` and ``probe``. With
    ``sign_in`` (a Space with OAuth) ``submit`` records the signed-in account (a call from a browser session
    signed in with Hugging Face) and refuses anyone else unless the admin token is given: see
    :func:`signed_in_submit`; ``submit_robustness`` likewise (:func:`signed_in_robustness`).
    """
    import gradio as gr

    from leaderboard import submissions
    from leaderboard.views import parse_api_query, table_json
    from probes.tab import probe_api

    board = services.board

    @api_endpoint
    def leaderboard(
        protocol: str = "official", kinds: str = "reference,submission", search: str = "", base_model: str = "All",
        forget_ratio: str = "All", method: str = "All", unlearning_modality: str = "All", sort_by: str = "rank",
        limit: int = 100, offset: int = 0, evaluated: str = "all",
    ) -> dict[str, Any]:
        """The ranked table as JSON, one page of it, every value on 0-100.

        ``total`` is the number of matching rows; ``rows`` holds at most ``limit`` (up to 1000) from
        ``offset``. ``kinds`` is a comma list of reference, demo, submission (default: the real rows).
        ``evaluated``: all, board (rows the board evaluated on request; ``evaluated_by_board`` in each row) or
        self (self-reported rows).
        """
        query, row_kinds = parse_api_query(protocol=protocol, kinds=kinds, search=search, base_model=base_model,
                                           forget_ratio=forget_ratio, method=method,
                                           unlearning_modality=unlearning_modality, sort_by=sort_by,
                                           evaluated=evaluated)
        return {"ok": True, **table_json(board, query, kinds=row_kinds, limit=limit, offset=offset)}

    @api_endpoint
    def changelog(limit: int = 200) -> dict[str, Any]:
        """Approvals, rejections and withdrawals, newest first."""
        events = board.changelog(limit=max(1, min(int(limit), 1000)))
        return {"ok": True, "events": [
            {"at": e.at.isoformat(), "action": e.action, "id": e.submission_id, "model_name": e.model_name,
             "kind": e.kind.value, "reason": e.reason} for e in events]}

    @api_endpoint
    def submit(results: str, metadata: dict[str, Any], samples: str = "", filename: str = "results.json",
               accuracy_unit: str = "percent", robustness: str = "") -> dict[str, Any]:
        """Validate and store a result file given as JSON text (pending); returns the id or every problem.

        ``robustness``: the text of a ``python -m probes.stress`` file for the same model, forget ratio and
        protocol, stored with the submission and moderated with it.
        """
        outcome = submissions.submit(board, results.encode(), metadata=metadata or {},
                                     samples=samples.encode() or None, filename=filename,
                                     accuracy_unit=accuracy_unit, robustness=robustness.encode() or None,
                                     robustness_filename="robustness.json" if robustness else None)
        return {"ok": outcome.ok, "id": outcome.submission_id, "message": outcome.message,
                "problems": [{"field": p.field, "message": p.message} for p in outcome.problems]}

    if sign_in:
        submit = signed_in_submit(submit, settings, throttle)

    @api_endpoint
    def submit_robustness(submission_id: str, robustness: str,
                          filename: str = "robustness.json") -> dict[str, Any]:
        """Add a robustness file (JSON text) to an existing row, pending moderation; returns its id (R12)."""
        outcome = submissions.submit_robustness(board, submission_id, robustness.encode(), filename=filename)
        stored = outcome.stored_robustness
        return {"ok": outcome.ok, "id": stored.label if stored is not None else None, "message": outcome.message,
                "problems": [{"field": p.field, "message": p.message} for p in outcome.problems]}

    if sign_in:
        submit_robustness = signed_in_robustness(submit_robustness, settings, throttle)

    def moderate(token: str, submission_id: str, action: str, reason: str = "",
                 request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """Approve, reject or withdraw a submission, or approve or reject a robustness file (id ``R12``).

        Needs the admin token (wrong tokens are throttled).
        """
        problem = submissions.check_admin(throttle, submissions.client_address(request), settings.admin_secret,
                                          token)
        if problem:
            return {"ok": False, "message": problem}
        outcome = submissions.moderate(board, submission_id, action, reason)
        return {"ok": outcome.ok, "message": outcome.message}

    # Gradio finds the request parameter by its type; this module imports gradio lazily, so the string
    # annotation could not be resolved by name: give it the class.
    moderate.__annotations__["request"] = gr.Request

    gr.api(leaderboard, api_name="leaderboard")
    gr.api(changelog, api_name="changelog")
    gr.api(submit, api_name="submit", concurrency_id="submit", concurrency_limit=SUBMIT_CONCURRENCY)
    gr.api(submit_robustness, api_name="submit_robustness", concurrency_id="submit",
           concurrency_limit=SUBMIT_CONCURRENCY)
    gr.api(api_endpoint(moderate), api_name="moderate", concurrency_id="submit",
           concurrency_limit=SUBMIT_CONCURRENCY)
    gr.api(api_endpoint(probe_api(services.probe)), api_name="probe", concurrency_limit=settings.probe_concurrency,
           concurrency_id="probe")
    _requests_api(services, settings, throttle, sign_in=sign_in)


def _requests_api(services: Services, settings: AppSettings, throttle: TokenThrottle, *, sign_in: bool) -> None:
    """The evaluation-request endpoints (see ``python -m probes.worker``).

    ``request_evaluation`` and ``requests`` for anyone (signed in on a Space with OAuth, or with the admin token);
    the workers' ``claim_request``, ``fail_request`` and ``complete_request`` with the admin token only (wrong
    tokens throttled).
    """
    import gradio as gr

    from leaderboard import requests, submissions

    board = services.board
    hub_check = services.hub_check or requests.check_hub_model

    def admin(token: str, request: gr.Request | None) -> str | None:
        return submissions.check_admin(throttle, submissions.client_address(request), settings.admin_secret, token)

    def request_evaluation(hub_repo: str, revision: str, base_model: str, method: str, forget_ratio: str,
                           protocol: str = "official", requester: str = "", admin_token: str = "",
                           request: gr.Request = None,  # type: ignore[assignment]
                           profile: gr.OAuthProfile | None = None) -> dict[str, Any]:
        """Ask the board to evaluate a Hub model (pinned to the revision's commit); returns the id (E12) or why not.

        On a Space with OAuth this needs a signed-in session (the account is the requester) or the admin token.
        """
        fields = {"hub_repo": hub_repo, "revision": revision, "base_model": base_model, "method": method,
                  "forget_ratio": forget_ratio, "protocol": protocol, "requester": requester}
        if sign_in:
            who = submissions.account_submitter(profile)
            problem = None if who else (admin(admin_token, request) if admin_token else "no admin token")
            if problem:
                return {"ok": False, "id": None, "problems": [],
                        "message": "Sign in with Hugging Face to request an evaluation (the Requests tab); an API "
                                   f"call needs a signed-in session or the admin token ({problem})"}
            fields["requester"] = who or requester
        outcome = requests.request_evaluation(board, fields, hub_check=hub_check)
        return {"ok": outcome.ok, "id": outcome.request.label if outcome.request else None,
                "revision": outcome.request.revision if outcome.request else None, "message": outcome.message,
                "problems": [{"field": p.field, "message": p.message} for p in outcome.problems]}

    def list_requests(limit: int = 200) -> dict[str, Any]:
        """Evaluation requests, newest first: status (pending, running, done, failed), error, row id."""
        found = board.requests(limit=max(1, min(int(limit), 1000)))
        return {"ok": True, "requests": [r.model_dump(mode="json") for r in found]}

    def claim_request(token: str, worker: str = "worker",
                      request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """A worker takes the oldest pending request (atomically: never two workers the same); null when none."""
        problem = admin(token, request)
        if problem:
            return {"ok": False, "message": problem, "request": None}
        claimed = board.claim_request(str(worker or "worker")[:200])
        return {"ok": True, "request": claimed.model_dump(mode="json") if claimed else None,
                "message": f"claimed {claimed.label}" if claimed else "no pending request"}

    def fail_request(token: str, request_id: str, error: str,
                     request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """A worker records why a claimed request's evaluation failed (shown in the request list)."""
        problem = admin(token, request)
        if problem:
            return {"ok": False, "message": problem}
        ok, message = requests.fail(board, request_id, error)
        return {"ok": ok, "message": message}

    def complete_request(token: str, request_id: str, results: str, samples: str = "",
                         filename: str = "results.submission.json",
                         request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """A worker sends a claimed request's submission file (JSON text): stored approved, evaluated by the board."""
        problem = admin(token, request)
        if problem:
            return {"ok": False, "message": problem, "id": None}
        ok, message, row = requests.complete(board, request_id, results.encode(), samples=samples.encode() or None,
                                             filename=filename)
        return {"ok": ok, "message": message, "id": row}

    # This module imports gradio lazily: give Gradio the classes, not the strings, to find these by type.
    for fn in (request_evaluation, claim_request, fail_request, complete_request):
        fn.__annotations__["request"] = gr.Request
    request_evaluation.__annotations__["profile"] = gr.OAuthProfile | None
    gr.api(api_endpoint(request_evaluation), api_name="request_evaluation", concurrency_id="request",
           concurrency_limit=SUBMIT_CONCURRENCY)
    gr.api(api_endpoint(list_requests), api_name="requests")
    for fn, name in ((claim_request, "claim_request"), (fail_request, "fail_request"),
                     (complete_request, "complete_request")):
        gr.api(api_endpoint(fn), api_name=name, concurrency_id="submit", concurrency_limit=SUBMIT_CONCURRENCY)


def _admin_problem(settings: AppSettings, throttle: TokenThrottle, request: Any, admin_token: str) -> str | None:
    """Why an unsigned API call on an OAuth Space is refused (no token, a wrong one), or None for the admin token."""
    from leaderboard import submissions

    if not admin_token:
        return "no admin token"
    return submissions.check_admin(throttle, submissions.client_address(request), settings.admin_secret,
                                   admin_token)


def signed_in_submit(submit: Callable[..., dict[str, Any]], settings: AppSettings,
                     throttle: TokenThrottle) -> Callable[..., dict[str, Any]]:
    """The ``/submit`` API on a Space with OAuth: as the signed-in account, or with the admin token, else refused.

    Gradio gives an API call the Hugging Face profile only when it carries a signed-in browser session;
    such a call is stored with the submitter ``hf:<user>``. Any other call is refused ("Sign in with
    Hugging Face to submit") unless ``admin_token`` is the admin token (wrong tokens are throttled), which
    submits with the metadata as given, for moderators importing results.
    """
    import gradio as gr

    from leaderboard import submissions

    def signed_submit(results: str, metadata: dict[str, Any], samples: str = "", filename: str = "results.json",
                      accuracy_unit: str = "percent", robustness: str = "", admin_token: str = "",
                      request: gr.Request = None,  # type: ignore[assignment]
                      profile: gr.OAuthProfile | None = None) -> dict[str, Any]:
        signed = submissions.as_account(metadata or {}, profile)
        if signed is None:
            problem = _admin_problem(settings, throttle, request, admin_token)
            if problem:
                return {"ok": False, "id": None, "problems": [],
                        "message": f"{submissions.SIGN_IN_TO_SUBMIT} (from the Submit tab); an API call needs a "
                                   f"signed-in session or the admin token ({problem})"}
        return submit(results, signed if signed is not None else metadata, samples, filename, accuracy_unit,
                      robustness)

    signed_submit.__doc__ = submit.__doc__
    # This module imports gradio lazily: give Gradio the classes, not the strings, to find these by type.
    signed_submit.__annotations__.update(request=gr.Request, profile=gr.OAuthProfile | None)
    return api_endpoint(signed_submit)


def signed_in_robustness(submit_robustness: Callable[..., dict[str, Any]], settings: AppSettings,
                         throttle: TokenThrottle) -> Callable[..., dict[str, Any]]:
    """The ``/submit_robustness`` API on a Space with OAuth: a signed-in session or the admin token, else refused.

    As :func:`signed_in_submit`: a call carrying a signed-in browser session adds the file; any other is refused
    ("Sign in with Hugging Face to submit") unless ``admin_token`` is the admin token (wrong tokens throttled).
    """
    import gradio as gr

    from leaderboard import submissions

    def signed_robustness(submission_id: str, robustness: str, filename: str = "robustness.json",
                          admin_token: str = "", request: gr.Request = None,  # type: ignore[assignment]
                          profile: gr.OAuthProfile | None = None) -> dict[str, Any]:
        if submissions.account_submitter(profile) is None:
            problem = _admin_problem(settings, throttle, request, admin_token)
            if problem:
                return {"ok": False, "id": None, "problems": [],
                        "message": f"{submissions.SIGN_IN_TO_SUBMIT} a robustness file (from the Submit tab); an "
                                   f"API call needs a signed-in session or the admin token ({problem})"}
        return submit_robustness(submission_id, robustness, filename)

    signed_robustness.__doc__ = submit_robustness.__doc__
    signed_robustness.__annotations__.update(request=gr.Request, profile=gr.OAuthProfile | None)
    return api_endpoint(signed_robustness)


def space_oauth(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether submitting needs a Hugging Face sign-in: on a Space (``SPACE_ID``) with OAuth.

    ``hf_oauth: true`` in the README front matter makes a Space set ``OAUTH_CLIENT_ID``. Locally (no Space)
    the form's Submitter field is used, as before.
    """
    return bool(environ.get("SPACE_ID") and environ.get("OAUTH_CLIENT_ID"))


def space_sign_in(settings: AppSettings, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the Submit tab offers Hugging Face sign-in for moderation.

    Only on a Space (``SPACE_ID``) with ``admin_users`` set, and only when the Space has OAuth: ``hf_oauth: true``
    in the README front matter makes it set ``OAUTH_CLIENT_ID``. Without it Gradio's sign-in fails at start-up
    (``OAUTH_CLIENT_ID not set``); the app logs why and keeps the admin-token form instead.
    """
    if not (environ.get("SPACE_ID") and settings.admin_users):
        return False
    if not environ.get("OAUTH_CLIENT_ID"):
        LOG.warning("MLLMU_ADMIN_USERS is set but this Space has no OAuth (OAUTH_CLIENT_ID is unset): add "
                    "'hf_oauth: true' to the README front matter for sign-in moderation; until then only the "
                    "admin token moderates")
        return False
    return True


def build_app(settings: AppSettings, services: Services | None = None) -> gr.Blocks:
    """Build the four-tab app from ``settings``; launches nothing.

    Args:
        settings: Where the store, registry and data are, and the probe's limits.
        services: Ready services (tests inject a temp store and fake models); default: :func:`make_services`.
    """
    import gradio as gr

    from about import about_markdown
    from leaderboard.request_tab import build_request_tab, requests_frame
    from leaderboard.requests import check_hub_model
    from leaderboard.submissions import TokenThrottle
    from leaderboard.submit_tab import build_submit_tab
    from leaderboard.tab import build_leaderboard_tab
    from probes.tab import build_probe_tab

    services = services or make_services(settings)
    throttle = TokenThrottle()
    bases = sorted(set(services.board.table().frame["base_model"]) | {"llava-hf/llava-1.5-7b-hf",
                                                                       "HuggingFaceM4/idefics2-8b"})
    with gr.Blocks(title=TITLE, delete_cache=(CACHE_LIFETIME_S, CACHE_LIFETIME_S)) as blocks:
        gr.Markdown(f"# {TITLE}\nA leaderboard and a live probe for multimodal machine unlearning "
                    "([MLLMU-Bench](https://arxiv.org/abs/2410.22108)).")
        with gr.Tabs():
            with gr.Tab("Leaderboard", id="leaderboard"):
                build_leaderboard_tab(services.board, blocks)
            with gr.Tab("Submit", id="submit"):
                build_submit_tab(services.board, admin_token=settings.admin_secret, admin_users=settings.admin_users,
                                 oauth=space_sign_in(settings), sign_in=space_oauth(), known_bases=bases,
                                 throttle=throttle,
                                 submit_concurrency=SUBMIT_CONCURRENCY)
            with gr.Tab("Requests", id="requests") as requests_tab:
                request_parts = build_request_tab(services.board, sign_in=space_oauth(), known_bases=bases,
                                                  hub_check=services.hub_check or check_hub_model,
                                                  concurrency_limit=SUBMIT_CONCURRENCY)
            requests_tab.select(functools.partial(requests_frame, services.board), None, request_parts["table"],
                                api_visibility="private")
            with gr.Tab("Probe", id="probe"):
                build_probe_tab(services.probe, blocks, concurrency_limit=settings.probe_concurrency)
            with gr.Tab("About", id="about"):
                gr.Markdown(about_markdown(), elem_id="about-text")
        _api(services, settings, throttle, sign_in=space_oauth())
    blocks.queue(max_size=settings.queue_size, default_concurrency_limit=4)
    return blocks


def launch_kwargs(settings: AppSettings) -> dict[str, Any]:
    """Arguments of ``Blocks.launch`` for ``settings`` (theme and css go here in Gradio 6)."""
    import gradio as gr

    from benchmark.submission import MAX_SUBMISSION_BYTES
    from leaderboard.ingest import MAX_SAMPLES_BYTES
    from leaderboard.tab import CSS as LEADERBOARD_CSS
    from probes.tab import CSS as PROBE_CSS

    # System fonts: the default theme fetches Google Fonts, which an offline machine cannot reach.
    theme = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                           font_mono=["ui-monospace", "SFMono-Regular", "monospace"])
    # Uploads larger than the biggest file the board accepts are refused by Gradio before they are stored.
    max_upload = max(MAX_SUBMISSION_BYTES, MAX_SAMPLES_BYTES)
    return {"server_name": settings.host, "server_port": settings.port or None, "theme": theme,
            "css": LEADERBOARD_CSS + PROBE_CSS, "footer_links": ["api", "settings"], "max_file_size": max_upload,
            "state_session_capacity": SESSION_CAPACITY}


def port_problem(host: str, port: int) -> str | None:
    """Why the app cannot listen on ``host:port`` (one line naming the flag to change), or None."""
    if port == 0:
        return None
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                return (f"port {port} on {host} is already in use; start the app with --port N "
                        "(or --port 0 for any free port)")
            return f"cannot listen on {host}:{port} ({exc.strerror}); change --host or --port"
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, build the app and serve it until interrupted."""
    settings = load_settings(argv)
    problem = port_problem(settings.host, settings.port)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(1)
    from leaderboard.hub_sync import HubSyncError

    try:
        app = build_app(settings)
    except HubSyncError as exc:  # the store's dataset: a missing token, an unreachable Hub, a newer dataset
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    app.launch(**launch_kwargs(settings))


if __name__ == "__main__":
    main()
