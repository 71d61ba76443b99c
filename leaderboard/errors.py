"""The store's refusals: a duplicate, a rate limit, an unknown id; each message says what to do.

Validation errors (a file that is not a valid result file) are
:class:`benchmark.errors.ValidationFailed`, raised before anything is stored.
"""

from __future__ import annotations


class LeaderboardError(Exception):
    """Base class of the store's refusals (a file that does not validate is a ``benchmark.errors.ValidationFailed``)."""


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
