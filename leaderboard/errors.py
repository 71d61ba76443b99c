"""Errors the leaderboard raises, each carrying what a user needs to fix the problem.

Validation never stops at the first problem: :class:`ValidationFailed` carries
every :class:`FieldIssue` found, each naming the field (a dotted path such as
``cells[3].value`` or ``Forget Set Results.generation``) and saying what is
wrong with it. Nothing is written to a store when one of these is raised.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldIssue:
    """One problem with one field of an uploaded file or of the metadata."""

    field: str
    """Dotted path of the offending field (``metadata.forget_ratio``, ``cells[2].value``, ``file``)."""
    message: str
    """What is wrong and, where possible, how to fix it (e.g. a nearest-name suggestion)."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class LeaderboardError(Exception):
    """Base class of every error the leaderboard raises on purpose."""


class ValidationFailed(LeaderboardError):
    """An uploaded file, its samples or its metadata did not validate; nothing was stored."""

    def __init__(self, issues: list[FieldIssue] | tuple[FieldIssue, ...], *, source: str = "submission") -> None:
        self.issues: tuple[FieldIssue, ...] = tuple(issues)
        self.source = source
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"{source} is invalid ({len(self.issues)} problem(s)):\n{lines}")


class UnsupportedSchemaVersion(ValidationFailed):
    """A submission file declares a ``schema_version`` this code cannot read (newer, or unknown)."""

    def __init__(self, found: object, supported: int) -> None:
        self.found = found
        self.supported = supported
        if isinstance(found, int) and not isinstance(found, bool) and found > supported:
            message = (
                f"schema_version {found} is newer than this leaderboard understands (newest supported: "
                f"{supported}); upgrade mllmu-arena to read it, or write the file with a version <= {supported}"
            )
        else:
            message = f"schema_version must be an integer between 1 and {supported}, got {found!r}"
        super().__init__([FieldIssue("schema_version", message)])


class DuplicateSubmission(LeaderboardError):
    """The same result content was already submitted (compared by content hash)."""

    def __init__(self, existing_id: int, existing_status: str, content_hash: str) -> None:
        self.existing_id = existing_id
        self.existing_status = existing_status
        self.content_hash = content_hash
        super().__init__(
            f"duplicate: the same results were already submitted as #{existing_id} ({existing_status}); "
            f"content hash {content_hash[:16]}"
        )


class RateLimited(LeaderboardError):
    """A submitter has reached the number of submissions allowed in the rate-limit window."""

    def __init__(self, submitter: str, limit: int, window_hours: float) -> None:
        self.submitter = submitter
        self.limit = limit
        self.window_hours = window_hours
        super().__init__(
            f"rate limit: submitter {submitter!r} already made {limit} submission(s) in the last "
            f"{window_hours:g} h; try again later"
        )


class SubmissionNotFound(LeaderboardError):
    """No stored submission has the requested id."""

    def __init__(self, submission_id: int) -> None:
        self.submission_id = submission_id
        super().__init__(f"no submission with id {submission_id}")
