"""Submit and moderate as services: bytes and metadata in, a typed outcome out, never an exception or Markdown.

The Submit tab and the ``/submit`` and ``/moderate`` API endpoints call these
and only format the answer: Markdown in the tab (submitted text escaped
there), plain text in the API's JSON. A refused upload stores nothing
(:class:`~leaderboard.service.Leaderboard` guarantees it); every problem comes
back with the field it concerns.
"""

from __future__ import annotations

import functools
import hmac
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from benchmark.errors import FieldIssue, ValidationFailed, not_accepted
from benchmark.metrics import Unit
from leaderboard.errors import AlreadyInStatus, LeaderboardError, SubmissionNotFound

if TYPE_CHECKING:
    from leaderboard.ingest import ParsedUpload
    from leaderboard.robustness import ParsedRobustness
    from leaderboard.service import Leaderboard
    from leaderboard.store import StoredRobustness, StoredSubmission


@dataclass(frozen=True)
class UploadOutcome:
    """What a preview or a submission came to."""

    ok: bool
    """True when the upload validated (preview) or was stored (submit)."""
    upload: ParsedUpload | None = None
    """The parsed upload, when it validated."""
    stored: StoredSubmission | None = None
    """The stored submission, after a successful submit."""
    problems: tuple[FieldIssue, ...] = ()
    """Every validation problem, each naming its field (nothing was stored)."""
    refusal: str | None = None
    """Why a valid upload was not stored (a duplicate, the rate limit), in plain text."""
    robustness: ParsedRobustness | None = None
    """The robustness file sent with the upload, when it validated (preview)."""
    stored_robustness: StoredRobustness | None = None
    """A robustness file stored for an existing row (``submit_robustness``)."""

    @property
    def submission_id(self) -> int | None:
        """The new id, after a successful submission."""
        return self.stored.id if self.stored is not None else None

    @property
    def message(self) -> str:
        """The outcome in plain text (for the API and the command line)."""
        if self.problems:
            return not_accepted(self.problems)
        if self.refusal is not None:
            return f"Not accepted: {self.refusal}"
        if self.stored_robustness is not None:
            r = self.stored_robustness
            return (f"Robustness file stored as {r.label} for #{r.submission_id} ({r.status.value}): it shows on the "
                    "row once a moderator approves it.")
        if self.stored is not None:
            return (f"Submitted as #{self.stored.id} ({self.stored.status.value}): it enters the leaderboard once a "
                    "moderator approves it.")
        assert self.upload is not None
        meta = self.upload.submission.metadata
        text = (f"Valid: {len(self.upload.submission.cells)} cell(s) read from the {self.upload.source_format.value} "
                f"file for {meta.model_name} ({meta.method}, forget {meta.forget_ratio} %, {meta.protocol.value} "
                "protocol).")
        return text + robustness_line(self.robustness)


def robustness_line(parsed: ParsedRobustness | None) -> str:
    """`` Robustness file: N attacks ...`` for a preview, or "" without one."""
    if parsed is None:
        return ""
    summary = parsed.summary
    return (f" Robustness file: {summary['attacks']} attack(s) against {parsed.result.metadata.reference_name}; "
            f"forget score under the strongest attack ({summary['worst_attack']}) {summary['worst_forget']:.1f}.")


NO_FILE = FieldIssue("file", "choose a results file to upload")

NO_ROBUSTNESS_FILE = FieldIssue("robustness", "choose a robustness file (*.robustness.json from python -m "
                                              "probes.stress) to upload")

MAX_FILENAME_CHARS = 255
"""Longest accepted file name (most file systems' limit)."""

MAX_REASON_CHARS = 1000
"""Longest moderation reason."""


def preview(
    board: Leaderboard,
    data: bytes | None,
    *,
    metadata: Mapping[str, Any],
    samples: bytes | None = None,
    filename: str | None = None,
    accuracy_unit: Unit | str = Unit.PERCENT,
    robustness: bytes | None = None,
    robustness_filename: str | None = None,
) -> UploadOutcome:
    """Validate an upload (and its optional robustness file) and say what would be stored; stores nothing."""
    outcome = _attempt(board.preview, lambda upload: UploadOutcome(True, upload=upload), data, metadata=metadata,
                       samples=samples, filename=filename, accuracy_unit=accuracy_unit)
    if robustness is None or not outcome.ok or outcome.upload is None:
        return outcome
    try:
        parsed = board.preview_robustness(robustness, outcome.upload, filename=robustness_filename)
    except ValidationFailed as exc:
        return UploadOutcome(False, problems=exc.issues)
    return UploadOutcome(True, upload=outcome.upload, robustness=parsed)


def submit(
    board: Leaderboard,
    data: bytes | None,
    *,
    metadata: Mapping[str, Any],
    samples: bytes | None = None,
    filename: str | None = None,
    accuracy_unit: Unit | str = Unit.PERCENT,
    robustness: bytes | None = None,
    robustness_filename: str | None = None,
) -> UploadOutcome:
    """Validate and store an upload (with its optional robustness file) as pending; the id, or every problem."""
    call = functools.partial(board.submit, robustness=robustness, robustness_filename=robustness_filename)
    return _attempt(call, lambda stored: UploadOutcome(True, stored=stored), data, metadata=metadata,
                    samples=samples, filename=filename, accuracy_unit=accuracy_unit)


def submit_robustness(board: Leaderboard, submission_id: object, data: bytes | None, *,
                      filename: str | None = None) -> UploadOutcome:
    """Add a robustness file to an existing row, pending moderation; its id (``R12``), or every problem."""
    sid = parse_submission_id(submission_id)
    if isinstance(sid, str):
        return UploadOutcome(False, problems=(FieldIssue("submission_id", sid),))
    if data is None or not data.strip():
        return UploadOutcome(False, problems=(NO_ROBUSTNESS_FILE,))
    if filename is not None and len(filename) > MAX_FILENAME_CHARS:
        return UploadOutcome(False, problems=(FieldIssue(
            "filename", f"is {len(filename):,} characters long; at most {MAX_FILENAME_CHARS} are allowed"),))
    try:
        stored = board.attach_robustness(sid, data, filename=filename)
    except ValidationFailed as exc:
        return UploadOutcome(False, problems=exc.issues)
    except LeaderboardError as exc:
        return UploadOutcome(False, refusal=str(exc))
    return UploadOutcome(True, stored_robustness=stored)


def _attempt(
    call: Callable[..., Any],
    success: Callable[[Any], UploadOutcome],
    data: bytes | None,
    *,
    metadata: Mapping[str, Any],
    samples: bytes | None,
    filename: str | None,
    accuracy_unit: Unit | str,
) -> UploadOutcome:
    """``call`` (the board's preview or submit) on the upload, its refusals turned into an outcome."""
    if data is None:
        return UploadOutcome(False, problems=(NO_FILE,))
    if filename is not None and len(filename) > MAX_FILENAME_CHARS:
        return UploadOutcome(False, problems=(FieldIssue(
            "filename", f"is {len(filename):,} characters long; at most {MAX_FILENAME_CHARS} are allowed"),))
    try:
        result = call(data, filename=filename, samples=samples, metadata=metadata, accuracy_unit=Unit(accuracy_unit))
    except ValidationFailed as exc:
        return UploadOutcome(False, problems=exc.issues)
    except LeaderboardError as exc:
        return UploadOutcome(False, refusal=str(exc))
    return success(result)


SIGN_IN_TO_SUBMIT = "Sign in with Hugging Face to submit"
"""The refusal of a submission without a Hugging Face sign-in, on a Space with OAuth."""

ACCOUNT_PREFIX = "hf:"
"""A signed-in account is recorded as the submitter ``hf:<user name>``."""


def account_submitter(profile: object) -> str | None:
    """The submitter recorded for a signed-in Hugging Face profile (``hf:<user name>``), or None when signed out.

    ``profile`` is a ``gr.OAuthProfile`` (or None); the rate limit counts per account, whatever name is typed.
    """
    user = getattr(profile, "username", None)
    if not isinstance(user, str) or not user.strip():
        return None
    return f"{ACCOUNT_PREFIX}{user.strip()}"


def as_account(metadata: Mapping[str, Any], profile: object) -> dict[str, Any] | None:
    """``metadata`` with the submitter replaced by the signed-in account, or None when nobody is signed in."""
    submitter = account_submitter(profile)
    return None if submitter is None else {**metadata, "submitter": submitter}


def authorized(expected_token: str | None, token: str | None, user: str | None = None,
               admin_users: tuple[str, ...] = ()) -> bool:
    """True for the right admin token (constant-time compare), or a signed-in user listed in ``admin_users``."""
    if user and user in admin_users:
        return True
    if not expected_token or not token:
        return False
    return hmac.compare_digest(expected_token.encode(), token.encode())


Action = Literal["approve", "reject", "withdraw"]
ACTIONS: tuple[str, ...] = ("approve", "reject", "withdraw")
"""Moderation actions: approve (enters the board), reject (never shown), withdraw (taken off the board)."""


@dataclass(frozen=True)
class ModerationOutcome:
    """What an approve, reject or withdraw came to."""

    ok: bool
    """True when the submission now has the asked status and it changed."""
    message: str
    """Plain text: the new status, or why nothing changed."""
    stored: StoredSubmission | None = None
    """The submission after the change."""


def parse_submission_id(value: object) -> int | str:
    """The submission id in ``value`` (an int, a whole float, or text like ``12`` or ``#12``), or why it is not one."""
    if value is None or value == "":
        return "choose a submission id"
    number: object = value
    if isinstance(value, str):
        text = value.strip().removeprefix("#")
        if not text.isdigit():
            return f"submission id must be a whole number, got {value[:40]!r}"
        number = int(text)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        return f"submission id must be a whole number of at least 1, got {value!r:.40}"
    return number


def robustness_id(value: object) -> int | None:
    """The robustness file id in ``R12`` (any case, an optional ``#``), or None when ``value`` names no such file."""
    if not isinstance(value, str):
        return None
    text = value.strip().removeprefix("#")
    if text[:1] in ("r", "R") and text[1:].isdigit() and int(text[1:]) >= 1:
        return int(text[1:])
    return None


def moderate(board: Leaderboard, submission_id: object, action: str, reason: str | None = None) -> ModerationOutcome:
    """Approve, reject or withdraw one submission, or approve or reject one robustness file (``R12``).

    The caller checked authorization.
    """
    rid = robustness_id(submission_id)
    if rid is not None:
        return moderate_robustness(board, rid, action, reason)
    sid = parse_submission_id(submission_id)
    if isinstance(sid, str):
        return ModerationOutcome(False, sid)
    if action not in ACTIONS:
        return ModerationOutcome(False, f"unknown action {str(action)[:40]!r}; use one of {', '.join(ACTIONS)}")
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        return ModerationOutcome(False, f"the reason is {len(reason):,} characters long; at most "
                                        f"{MAX_REASON_CHARS} are allowed")
    change = {"approve": board.approve, "reject": board.reject, "withdraw": board.withdraw}[action]
    try:
        stored = change(sid, reason=reason or None)
    except (SubmissionNotFound, AlreadyInStatus) as exc:
        return ModerationOutcome(False, str(exc))
    return ModerationOutcome(True, f"#{stored.id} {stored.submission.metadata.model_name}: {stored.status.value}.",
                             stored)


def moderate_robustness(board: Leaderboard, rid: int, action: str, reason: str | None = None) -> ModerationOutcome:
    """Approve (it becomes its row's current file) or reject a robustness file (the caller checked authorization)."""
    if action not in ("approve", "reject"):
        return ModerationOutcome(False, f"a robustness file can be approved or rejected, not {str(action)[:40]!r}")
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        return ModerationOutcome(False, f"the reason is {len(reason):,} characters long; at most "
                                        f"{MAX_REASON_CHARS} are allowed")
    change = board.approve_robustness if action == "approve" else board.reject_robustness
    try:
        stored = change(rid, reason=reason or None)
    except LeaderboardError as exc:
        return ModerationOutcome(False, str(exc))
    return ModerationOutcome(True, f"{stored.label} (robustness file of #{stored.submission_id}): "
                                   f"{stored.status.value}.")


@dataclass
class TokenThrottle:
    """Refuses admin-token checks from a client after ``limit`` wrong tokens within ``window_s`` seconds.

    Wrong guesses are counted per client address (and in total, so rotating addresses does not help
    beyond ``global_limit``); a right token is never throttled by others' guesses unless the global
    limit is hit. Memory is bounded: at most ``max_clients`` addresses are tracked.
    """

    limit: int = 5
    window_s: float = 60.0
    global_limit: int = 50
    max_clients: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _all: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _trim(self, times: deque[float], now: float) -> None:
        while times and now - times[0] > self.window_s:
            times.popleft()

    def wait_s(self, client: str) -> float:
        """Seconds ``client`` must wait before its next try (0 when it may try now)."""
        now = self.clock()
        with self._lock:
            times = self._failures.get(client, deque())
            self._trim(times, now)
            self._trim(self._all, now)
            waits = [self.window_s - (now - times[0])] if len(times) >= self.limit else []
            if len(self._all) >= self.global_limit:
                waits.append(self.window_s - (now - self._all[0]))
            return max(waits, default=0.0)

    def failed(self, client: str) -> None:
        """Record one wrong token from ``client``."""
        now = self.clock()
        with self._lock:
            if client not in self._failures and len(self._failures) >= self.max_clients:
                self._failures.pop(next(iter(self._failures)))
            self._failures.setdefault(client, deque()).append(now)
            self._all.append(now)


def client_address(request: object) -> str:
    """The caller's address as the token throttle counts it (a Gradio request's client host), or ``unknown``."""
    return getattr(getattr(request, "client", None), "host", None) or "unknown"


def check_admin(throttle: TokenThrottle, client: str, expected_token: str | None, token: str | None,
                user: str | None = None, admin_users: tuple[str, ...] = ()) -> str | None:
    """None when the caller may moderate, else why not (plain text); wrong tokens count towards the throttle."""
    if user and user in admin_users:
        return None
    wait = throttle.wait_s(client)
    if wait > 0:
        return f"too many wrong admin tokens; try again in {wait:.0f} s"
    if authorized(expected_token, token):
        return None
    throttle.failed(client)
    return "wrong admin token" if expected_token else "moderation is off on this server (no admin token is set)"
