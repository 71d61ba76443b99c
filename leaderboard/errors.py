"""The store's refusals: a duplicate, a rate limit, an unknown id; each message says what to do.

Validation errors (a file that is not a valid result file) are
:class:`benchmark.errors.ValidationFailed`, raised before anything is stored.
"""

from __future__ import annotations


class LeaderboardError(Exception):
    """Base class of the store's refusals (a file that does not validate is a ``benchmark.errors.ValidationFailed``)."""


class DuplicateSubmission(LeaderboardError):
    """The same results are already stored: equal cells (within float noise), or the same file."""

    def __init__(self, existing_id: int, existing_status: str, content_hash: str, *, model_name: str = "",
                 kind: str = "submission") -> None:
        self.existing_id = existing_id
        self.existing_status = existing_status
        self.content_hash = content_hash
        self.model_name = model_name
        named = f" {model_name!r}" if model_name else ""
        what = {"reference": "a community-reported reference row", "demo": "a demo row"}.get(kind, "a submission")
        super().__init__(
            f"duplicate: these results equal those of #{existing_id}{named} ({what}, {existing_status}); "
            "every cell has the same value. If they are really a different model, check that the right file "
            "was uploaded"
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
        super().__init__(f"no submission with id {submission_id}; the ids are listed in the moderation panel "
                         "and by: python -m leaderboard list")


class AlreadyInStatus(LeaderboardError):
    """A moderation action that would change nothing (approving an approved row)."""

    def __init__(self, submission_id: int, status: str, model_name: str = "") -> None:
        self.submission_id = submission_id
        self.status = status
        named = f" {model_name}" if model_name else ""
        super().__init__(f"#{submission_id}{named} is already {status}; nothing changed")


class RobustnessNotFound(LeaderboardError):
    """No stored robustness file has the requested id."""

    def __init__(self, robustness_id: int) -> None:
        self.robustness_id = robustness_id
        super().__init__(f"no robustness file R{robustness_id}; pending ones are listed in the moderation panel")


class DuplicateRobustness(LeaderboardError):
    """The same robustness file is already attached to the row."""

    def __init__(self, existing_id: int, submission_id: int, status: str) -> None:
        self.existing_id = existing_id
        self.submission_id = submission_id
        super().__init__(f"duplicate: this robustness file is already attached to #{submission_id} as "
                         f"R{existing_id} ({status})")


class RowNotOpen(LeaderboardError):
    """A robustness file for a row that is rejected or withdrawn (it is not on any board)."""

    def __init__(self, submission_id: int, status: str) -> None:
        self.submission_id = submission_id
        super().__init__(f"#{submission_id} is {status}; robustness files can be added to approved or pending rows "
                         "only")


class DuplicateRequest(LeaderboardError):
    """The same model, commit, forget ratio and protocol is already requested (pending, running or done)."""

    def __init__(self, existing_id: int, status: str, hub_repo: str, revision: str) -> None:
        self.existing_id = existing_id
        self.status = status
        where = {"done": "its row is on the board", "running": "a worker is evaluating it now",
                 "pending": "it waits for a worker"}.get(status, status)
        super().__init__(f"duplicate: {hub_repo}@{revision[:12]} with this forget ratio and protocol is already "
                         f"requested as E{existing_id} ({status}: {where}); see the request list")


class RequestNotFound(LeaderboardError):
    """No evaluation request has the given id."""

    def __init__(self, request_id: int) -> None:
        self.request_id = request_id
        super().__init__(f"no evaluation request E{request_id}; the requests are listed in the Requests tab")


class RequestNotRunning(LeaderboardError):
    """A worker reported on a request that is not running (never claimed, or already done or failed)."""

    def __init__(self, request_id: int, status: str) -> None:
        self.request_id = request_id
        self.status = status
        super().__init__(f"E{request_id} is {status}, not running; only a claimed request takes a result or an error")
