"""Submit and moderate as services: bytes and metadata in, a typed outcome out, never an exception or Markdown.

The Submit tab and the ``/submit`` and ``/moderate`` API endpoints call these
and only format the answer: Markdown in the tab (submitted text escaped
there), plain text in the API's JSON. A refused upload stores nothing
(:class:`~leaderboard.service.Leaderboard` guarantees it); every problem comes
back with the field it concerns.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from benchmark.errors import FieldIssue, ValidationFailed
from benchmark.metrics import Unit
from leaderboard.errors import AlreadyInStatus, LeaderboardError, SubmissionNotFound

if TYPE_CHECKING:
    from leaderboard.ingest import ParsedUpload
    from leaderboard.service import Leaderboard
    from leaderboard.store import StoredSubmission


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

    @property
    def submission_id(self) -> int | None:
        """The new id, after a successful submission."""
        return self.stored.id if self.stored is not None else None

    @property
    def message(self) -> str:
        """The outcome in plain text (for the API and the command line)."""
        if self.problems:
            lines = [f"Not accepted: {len(self.problems)} problem(s); nothing was stored."]
            return "\n".join([*lines, *(f"- {p.field}: {p.message}" for p in self.problems)])
        if self.refusal is not None:
            return f"Not accepted: {self.refusal}"
        if self.stored is not None:
            return (f"Submitted as #{self.stored.id} ({self.stored.status.value}): it enters the leaderboard once a "
                    "moderator approves it.")
        assert self.upload is not None
        meta = self.upload.submission.metadata
        return (f"Valid: {len(self.upload.submission.cells)} cell(s) read from the {self.upload.source_format.value} "
                f"file for {meta.model_name} ({meta.method}, forget {meta.forget_ratio} %, {meta.protocol.value} "
                "protocol).")


NO_FILE = FieldIssue("file", "choose a results file to upload")

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
) -> UploadOutcome:
    """Validate an upload and say what would be stored; stores nothing."""
    return _attempt(board.preview, lambda upload: UploadOutcome(True, upload=upload), data, metadata=metadata,
                    samples=samples, filename=filename, accuracy_unit=accuracy_unit)


def submit(
    board: Leaderboard,
    data: bytes | None,
    *,
    metadata: Mapping[str, Any],
    samples: bytes | None = None,
    filename: str | None = None,
    accuracy_unit: Unit | str = Unit.PERCENT,
) -> UploadOutcome:
    """Validate and store an upload as pending; the outcome has its id, or every problem."""
    return _attempt(board.submit, lambda stored: UploadOutcome(True, stored=stored), data, metadata=metadata,
                    samples=samples, filename=filename, accuracy_unit=accuracy_unit)


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


def moderate(board: Leaderboard, submission_id: object, action: str, reason: str | None = None) -> ModerationOutcome:
    """Approve, reject or withdraw one submission (the caller checked authorization)."""
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
