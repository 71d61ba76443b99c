"""The store interface: what the leaderboard needs from wherever submissions live.

:class:`Store` is a small protocol so that a Hugging Face dataset-backed store
can be added beside the default :class:`~leaderboard.sqlite_store.SQLiteStore`.
A store keeps, per submission, the uploaded file verbatim, the validated
canonical submission, its cells, its moderation status and its content hash.
Every write is one transaction: either all of it is stored or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from benchmark.submission import Submission
from leaderboard.ingest import ParsedUpload, SourceFormat

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_DB_PATH = Path("var/leaderboard.sqlite")
"""Default store location, relative to the working directory (the app's and the command line's)."""


class Status(StrEnum):
    """Moderation state of a submission; only approved ones are ranked."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


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
    """SHA-256 of the uploaded results' JSON content; equal hashes are duplicates."""
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

    @property
    def is_reference(self) -> bool:
        """True for the community-reported reference rows."""
        return self.source_format is SourceFormat.REFERENCE


class RawFiles(NamedTuple):
    """The files exactly as uploaded."""

    results: bytes
    samples: bytes | None
    filename: str | None


class StoreFrames(NamedTuple):
    """Bulk read for the table: one row per submission, and its cells in long form."""

    submissions: pd.DataFrame
    """Columns: id, status, source_format, model_name, base_model, method, forget_ratio,
    unlearning_modality, protocol, protocol_version, submitter, link, hub_repo, created_at."""
    cells: pd.DataFrame
    """Columns: submission_id, key (``set/task/modality/metric``), value."""


class Store(Protocol):
    """What the leaderboard needs from a submission store."""

    @property
    def fresh(self) -> bool:
        """True when this store was created empty when opened (reference rows are seeded then)."""
        ...

    def add(
        self, upload: ParsedUpload, *, status: Status, now: datetime, rate_limit: RateLimit | None = None
    ) -> StoredSubmission:
        """Store an upload atomically.

        Raises:
            DuplicateSubmission: A submission with the same content hash exists.
            RateLimited: The submitter reached ``rate_limit`` (checked in the same transaction).
        """
        ...

    def get(self, submission_id: int) -> StoredSubmission:
        """One submission. Raises ``SubmissionNotFound``."""
        ...

    def raw(self, submission_id: int) -> RawFiles:
        """The uploaded files, verbatim. Raises ``SubmissionNotFound``."""
        ...

    def find_by_hash(self, content_hash: str) -> StoredSubmission | None:
        """The submission with this content hash, if any."""
        ...

    def list(self, *, status: Status | None = None) -> list[StoredSubmission]:
        """Submissions (of one status, or all), oldest first."""
        ...

    def set_status(
        self, submission_id: int, status: Status, *, now: datetime, reason: str | None = None
    ) -> StoredSubmission:
        """Change a submission's moderation status. Raises ``SubmissionNotFound``."""
        ...

    def frames(
        self, *, statuses: tuple[Status, ...], protocol: str | None = None, keys: Sequence[str] | None = None
    ) -> StoreFrames:
        """Bulk read for the table, without decoding every submission.

        Args:
            statuses: Only submissions in these states.
            protocol: Only submissions of this protocol (all when ``None``).
            keys: Only these cell ids (all when ``None``).
        """
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...
