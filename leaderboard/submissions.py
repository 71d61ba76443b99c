"""Submit and moderate as services: bytes and metadata in, a typed outcome out, never an exception or Markdown.

The Submit tab and the ``/submit`` and ``/moderate`` API endpoints call these
and only format the answer: Markdown in the tab (submitted text escaped
there), plain text in the API's JSON. A refused upload stores nothing
(:class:`~leaderboard.service.Leaderboard` guarantees it); every problem comes
back with the field it concerns.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from benchmark.errors import FieldIssue, ValidationFailed
from benchmark.metrics import Unit
from leaderboard.errors import LeaderboardError, SubmissionNotFound
from leaderboard.store import Status

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
    if not data:
        return UploadOutcome(False, problems=(NO_FILE,))
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


Action = Literal["approve", "reject"]


@dataclass(frozen=True)
class ModerationOutcome:
    """What an approve or reject came to."""

    ok: bool
    """True when the submission now has the asked status."""
    message: str
    """Plain text: the new status, or why nothing changed."""
    stored: StoredSubmission | None = None
    """The submission after the change."""


def moderate(board: Leaderboard, submission_id: int | float | None, action: str,
             reason: str | None = None) -> ModerationOutcome:
    """Approve or reject one submission (the caller checked authorization)."""
    if submission_id is None:
        return ModerationOutcome(False, "choose a submission id")
    if action not in ("approve", "reject"):
        return ModerationOutcome(False, f"unknown action {action!r}; use approve or reject")
    try:
        sid = int(submission_id)
        change = board.approve if action == "approve" else board.reject
        stored = change(sid, reason=reason or None)
    except SubmissionNotFound as exc:
        return ModerationOutcome(False, str(exc))
    wanted = Status.APPROVED if action == "approve" else Status.REJECTED
    name = stored.submission.metadata.model_name
    return ModerationOutcome(stored.status is wanted, f"#{stored.id} {name}: {stored.status.value}.", stored)
