"""The store interface: what the leaderboard needs from wherever submissions live.

:class:`Store` is a small protocol so that a Hugging Face dataset-backed store
can be added beside the default :class:`~leaderboard.sqlite_store.SQLiteStore`.
A store keeps, per submission, the uploaded file verbatim, the validated
canonical submission, its cells, its moderation status and its content hash.
Every write is one transaction: either all of it is stored or none.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from benchmark.submission import Submission
from leaderboard.ingest import ParsedUpload, SourceFormat

if TYPE_CHECKING:
    import pandas as pd

    from benchmark.requests import EvaluationRequest
    from benchmark.robustness import RobustnessFile
    from leaderboard.robustness import ParsedRobustness

CELLS_SIGNATURE_DECIMALS = 6
"""Cells are compared for duplicates on the 0-100 scale rounded to this many decimals (float noise is ~1e-13)."""


def cells_signature(submission: Submission) -> str:
    """SHA-256 of a submission's cells (key and value on the 0-100 scale, rounded): equal for the same results.

    Metadata, key order, units (fraction or percent) and float noise do not change it, so the same numbers
    under another name or file layout are recognised as a duplicate.
    """
    import hashlib

    digits = CELLS_SIGNATURE_DECIMALS
    parts = sorted(
        f"{cell.key.id}={round(cell.value * cell.unit.to_percent, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.0"
        for cell in submission.cells
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def submitter_key(name: str) -> str:
    """A submitter name as the rate limit compares it: NFKC, case-folded, invisible marks dropped, trimmed."""
    import unicodedata

    folded = unicodedata.normalize("NFKC", name).casefold()
    visible = "".join(ch for ch in folded if unicodedata.category(ch) not in ("Cf", "Cc"))
    return " ".join(visible.split())

DEFAULT_DB_PATH = Path("var/leaderboard.sqlite")
"""Default store location, relative to the working directory (the app's and the command line's)."""


class Status(StrEnum):
    """Moderation state of a submission; only approved ones are shown and ranked."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    """Taken off the board after approval (at its submitter's request, or found wrong); kept, never ranked."""


class RowKind(StrEnum):
    """What a row is, so that toy rows are never ranked among real ones."""

    REFERENCE = "reference"
    """A community-reported result of a real model (:mod:`leaderboard.references`)."""
    DEMO = "demo"
    """The project's toy demo checkpoints, for trying the app; shown on their own board."""
    SUBMISSION = "submission"
    """A result submitted by a researcher."""


class Event(NamedTuple):
    """One entry of a submission's history: submitted, approved, rejected or withdrawn."""

    id: int
    submission_id: int
    action: str
    """``submitted``, ``seeded``, ``approved``, ``rejected`` or ``withdrawn``."""
    status: Status
    """The status it left the submission in."""
    reason: str | None
    at: datetime
    model_name: str
    kind: RowKind


class RateLimit(NamedTuple):
    """At most ``limit`` submissions per submitter within ``window_hours`` (references are exempt)."""

    limit: int
    window_hours: float


@dataclass(frozen=True)
class StoredSubmission:
    """A submission as stored: the canonical submission plus store bookkeeping."""

    id: int
    """Store-assigned id, shown to users and used by approve / reject."""
    status: Status
    """pending, approved or rejected."""
    source_format: SourceFormat
    """upstream, submission or reference."""
    submission: Submission
    """The validated, canonical submission (current schema version)."""
    content_hash: str
    """SHA-256 of the uploaded results' JSON content."""
    filename: str | None
    """Name of the uploaded file, if known."""
    created_at: datetime
    """When it was stored (UTC)."""
    updated_at: datetime
    """When its status last changed (UTC)."""
    status_reason: str | None = None
    """Why it was rejected (or approved), as the moderator wrote it."""
    warnings: tuple[str, ...] = ()
    """Non-blocking remarks from ingestion."""
    kind: RowKind = RowKind.SUBMISSION
    """reference, demo or submission."""

    @property
    def is_reference(self) -> bool:
        """True for the community-reported reference rows."""
        return self.kind is RowKind.REFERENCE


class RobustnessStatus(StrEnum):
    """Moderation state of a robustness file; a row shows its one approved file."""

    PENDING = "pending"
    """Added to an existing row, waiting for a moderator (or sent with a pending submission)."""
    APPROVED = "approved"
    """The row's current file."""
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    """Was approved; a newer file for the same row replaced it (kept, text and all)."""


@dataclass(frozen=True)
class StoredRobustness:
    """A robustness file as stored: the verbatim text, parsed on read, and its bookkeeping."""

    id: int
    """Store-assigned id, shown as ``R<id>`` (its own numbering, apart from submission ids)."""
    submission_id: int
    """The row it belongs to."""
    status: RobustnessStatus
    with_submission: bool
    """Sent with its submission (moderated with it) rather than added later (moderated on its own)."""
    raw: bytes = field(repr=False)
    """The uploaded file, verbatim."""
    content_hash: str
    filename: str | None
    created_at: datetime
    updated_at: datetime
    status_reason: str | None = None

    @property
    def label(self) -> str:
        """``R12``: how moderators and messages name it."""
        return f"R{self.id}"

    @property
    def result(self) -> RobustnessFile:
        """The file parsed with :func:`benchmark.robustness.read_robustness` (size limits do not apply)."""
        from benchmark.robustness import read_robustness

        return read_robustness(self.raw, max_bytes=max(len(self.raw), 1))


class RawFiles(NamedTuple):
    """The files exactly as uploaded."""

    results: bytes
    samples: bytes | None
    filename: str | None


class StoreSnapshot(NamedTuple):
    """Everything a store holds, as its typed records: what :mod:`leaderboard.hub_sync` rebuilds a store from."""

    submissions: list[tuple[StoredSubmission, RawFiles]]
    """Every row (any kind and status) with its files as uploaded, by id."""
    robustness: list[StoredRobustness]
    """Every robustness file (any status), by id."""
    events: list[Event]
    """Every event, by id (``model_name`` and ``kind`` are read from the row, not restored)."""
    requests: tuple[EvaluationRequest, ...] = ()
    """Every evaluation request, by id (a done one names the row it became)."""


class StoreFrames(NamedTuple):
    """Bulk read for the table: one row per submission, and its cells in long form."""

    submissions: pd.DataFrame
    """Columns: id, kind, status, source_format, model_name, base_model, method, forget_ratio,
    unlearning_modality, protocol, protocol_version, submitter, link, hub_repo, created_at."""
    cells: pd.DataFrame
    """Columns: submission_id, key (``set/task/modality/metric``), value, ci_low, ci_high (cell units)."""
    robustness: pd.DataFrame | None = None
    """Columns: submission_id, summary_json (:func:`leaderboard.robustness.summarise`), one row per row with
    an approved robustness file; ``None`` from stores that keep none."""


class Store(Protocol):
    """What the leaderboard needs from a submission store."""

    @property
    def fresh(self) -> bool:
        """True when this store was created empty when opened (reference rows are seeded then)."""
        ...

    @property
    def version(self) -> int:
        """A number that changes on every write (tables built from the store are cached on it)."""
        ...

    def add(
        self,
        upload: ParsedUpload,
        *,
        status: Status,
        now: datetime,
        rate_limit: RateLimit | None = None,
        kind: RowKind | None = None,
        robustness: ParsedRobustness | None = None,
        request_id: int | None = None,
    ) -> StoredSubmission:
        """Store an upload atomically (``kind`` defaults to reference for reference uploads, else submission).

        ``robustness`` is stored in the same transaction, moderated with the submission (approved with it).
        ``request_id``: the row is the board's evaluation of this running request, which becomes done (with the
        row's id) in the same transaction; raises ``RequestNotFound`` or ``RequestNotRunning`` otherwise.

        Raises:
            DuplicateSubmission: A stored row (any status, references included) has the same cells.
            RateLimited: The submitter (names compared normalised) reached ``rate_limit``; checked in
                the same transaction.
        """
        ...

    def get(self, submission_id: int) -> StoredSubmission:
        """One submission. Raises ``SubmissionNotFound``."""
        ...

    def id_by_content(self, content_hash: str) -> int | None:
        """The id of the row stored from a file with this content hash, or ``None``."""
        ...

    def raw(self, submission_id: int) -> RawFiles:
        """The uploaded files, verbatim. Raises ``SubmissionNotFound``."""
        ...

    def list(self, *, status: Status | None = None) -> list[StoredSubmission]:
        """Submissions (of one status, or all), oldest first."""
        ...

    def set_status(
        self, submission_id: int, status: Status, *, now: datetime, reason: str | None = None
    ) -> StoredSubmission:
        """Change a submission's moderation status, recording the event. Raises ``SubmissionNotFound``."""
        ...

    def events(self, *, actions: tuple[str, ...] | None = None, limit: int = 500) -> builtins.list[Event]:
        """The most recent events (of these actions, or all), newest first."""
        ...

    def frames(
        self,
        *,
        statuses: tuple[Status, ...],
        protocol: str | None = None,
        keys: Sequence[str] | None = None,
        kinds: tuple[RowKind, ...] | None = None,
    ) -> StoreFrames:
        """Bulk read for the table, without decoding every submission.

        Args:
            statuses: Only submissions in these states.
            protocol: Only submissions of this protocol (all when ``None``).
            keys: Only these cell ids (all when ``None``).
            kinds: Only rows of these kinds (all when ``None``).
        """
        ...

    def add_robustness(self, submission_id: int, parsed: ParsedRobustness, *, status: RobustnessStatus,
                       now: datetime, with_submission: bool = False) -> StoredRobustness:
        """Attach a robustness file to a row, atomically (an approved one supersedes the row's current one).

        Raises:
            SubmissionNotFound: No such row.
            DuplicateRobustness: The same file is already attached to the row (any status).
        """
        ...

    def robustness(self, submission_id: int) -> StoredRobustness | None:
        """The row's current (approved) robustness file, or ``None``."""
        ...

    def robustness_history(self, submission_id: int) -> builtins.list[StoredRobustness]:
        """Every robustness file of a row, oldest first (superseded, rejected and pending included)."""
        ...

    def get_robustness(self, robustness_id: int) -> StoredRobustness:
        """One robustness file by its id. Raises ``RobustnessNotFound``."""
        ...

    def list_robustness(self, *, status: RobustnessStatus | None = None) -> builtins.list[StoredRobustness]:
        """Robustness files (of one status, or all), oldest first."""
        ...

    def set_robustness_status(self, robustness_id: int, status: RobustnessStatus, *, now: datetime,
                              reason: str | None = None) -> StoredRobustness:
        """Approve (superseding the row's current file) or reject a robustness file, logging the event.

        Raises ``RobustnessNotFound``.
        """
        ...

    def add_request(self, fields: EvaluationRequest, *, now: datetime,
                    rate_limit: RateLimit | None = None) -> EvaluationRequest:
        """Store an evaluation request as pending (``fields.id`` and status are ignored); returns it with its id.

        Raises:
            DuplicateRequest: The same model, commit, forget ratio and protocol is pending, running or done.
            RateLimited: The requester (names compared normalised) reached ``rate_limit`` requests.
        """
        ...

    def claim_request(self, worker: str, *, now: datetime, lease: timedelta = ...) -> EvaluationRequest | None:
        """Atomically turn the oldest claimable request into running, claimed by ``worker``; None if none is.

        Claimable: pending, or running without news for longer than ``lease`` (its worker is gone).
        """
        ...

    def fail_request(self, request_id: int, error: str, *, now: datetime) -> EvaluationRequest:
        """Record a running request's failure and its error. Raises ``RequestNotFound``, ``RequestNotRunning``."""
        ...

    def get_request(self, request_id: int) -> EvaluationRequest:
        """One request. Raises ``RequestNotFound``."""
        ...

    def list_requests(self, *, limit: int = 200) -> builtins.list[EvaluationRequest]:
        """The most recent requests, newest first."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...
