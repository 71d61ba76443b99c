"""The leaderboard's service layer: what the app and the CLI call.

Build one :class:`Leaderboard` from :class:`LeaderboardSettings` (or a store)
and call plain methods; every method returns typed objects or DataFrames and
raises a :class:`~benchmark.errors.ValidationFailed` or a
:class:`~leaderboard.errors.LeaderboardError` subclass with a
readable message on refusal (:mod:`leaderboard.submissions` wraps submit and
moderation into typed outcomes for the app). No UI code lives here::

    board = Leaderboard.open(LeaderboardSettings(db_path="var/leaderboard.sqlite"))
    preview = board.preview(file_bytes, metadata={"model_name": ..., ...})  # validate, store nothing
    stored = board.submit(file_bytes, metadata=..., samples=samples_bytes)   # pending
    board.approve(stored.id)
    table = board.table(Protocol.OFFICIAL)                                   # LeaderboardTable
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from benchmark.errors import FieldIssue, ValidationFailed
from benchmark.metrics import Unit
from benchmark.requests import EvaluationRequest
from benchmark.submission import MAX_SUBMISSION_BYTES
from benchmark.vocabulary import Protocol
from leaderboard.errors import AlreadyInStatus, DuplicateRobustness, DuplicateSubmission, RowNotOpen
from leaderboard.ingest import MAX_SAMPLES_BYTES, MetadataOverrides, ParsedUpload, parse_upload
from leaderboard.references import REFERENCES, reference_upload
from leaderboard.robustness import ParsedRobustness, check_matches, parse_robustness
from leaderboard.store import (
    DEFAULT_DB_PATH,
    Event,
    RateLimit,
    RawFiles,
    RobustnessStatus,
    RowKind,
    Status,
    Store,
    StoredRobustness,
    StoredSubmission,
)
from leaderboard.table import LeaderboardTable, MetricSelection, build_table, columns_for

REAL_KINDS = (RowKind.REFERENCE, RowKind.SUBMISSION)
"""The rows of the default board: real models (the demo rows have their own board)."""

PUBLIC_ACTIONS = ("approved", "rejected", "withdrawn", "robustness approved", "robustness rejected")
"""The events the changelog shows (pending submissions are seen by moderators only)."""

TABLE_CACHE_SIZE = 8
"""Tables kept per store version (protocol x kinds x metrics combinations)."""

DEMO_RESULTS = Path(__file__).resolve().parents[1] / "demo" / "results"
"""Where the demo checkpoints' evaluation outputs lie (data only; ``python -m demo results`` writes them)."""


class LeaderboardSettings(BaseSettings):
    """Leaderboard settings; each can also come from an ``MLLMU_LEADERBOARD_<NAME>`` environment variable.

    The store's path is the exception: it is ``MLLMU_DB``, the same variable the app reads, so that the app and
    ``python -m leaderboard`` open the same store.
    """

    model_config = SettingsConfigDict(env_prefix="MLLMU_LEADERBOARD_", extra="forbid", populate_by_name=True)

    db_path: Path = Field(
        default=DEFAULT_DB_PATH,
        validation_alias=AliasChoices("MLLMU_DB"),
        description="SQLite file of the store (created if absent); environment variable MLLMU_DB.",
    )
    max_file_bytes: int = Field(default=MAX_SUBMISSION_BYTES, gt=0, description="Size limit of a results file.")
    max_samples_bytes: int = Field(default=MAX_SAMPLES_BYTES, gt=0, description="Size limit of a samples file.")
    rate_limit_count: int = Field(
        default=5, ge=0, description="Submissions allowed per submitter per window; 0 disables the limit."
    )
    rate_limit_window_hours: float = Field(default=24.0, gt=0, description="Length of the rate-limit window.")
    seed_references: bool = Field(default=True, description="Seed the community-reported rows into a fresh store.")
    seed_demo: bool = Field(
        default=True,
        description="Seed the demo checkpoints' evaluated results (demo/results) into a fresh store.",
    )
    hub_dataset: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLLMU_HUB_DATASET"),
        description="Keep the store in this Hugging Face dataset (owner/name; a path: a folder) and rebuild the "
        "SQLite file from it on start (leaderboard.hub_sync); environment variable MLLMU_HUB_DATASET.",
    )
    hub_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("HF_TOKEN"),
        description="Token with write access to hub_dataset; environment variable HF_TOKEN (a Space secret).",
    )


class Leaderboard:
    """Submissions in, ranked tables out."""

    def __init__(
        self,
        store: Store,
        settings: LeaderboardSettings | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Wrap ``store``; seeds the reference rows when the store is fresh and the settings ask for it.

        Args:
            store: Where submissions live.
            settings: Limits and options; defaults to :class:`LeaderboardSettings` ().
            clock: Returns "now" in UTC (tests pass a fixed clock to exercise the rate limit).
        """
        self.store = store
        self.settings = settings or LeaderboardSettings()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._tables: OrderedDict[tuple[Any, ...], LeaderboardTable] = OrderedDict()
        self._tables_lock = threading.Lock()
        fresh = store.fresh
        if fresh and self.settings.seed_references:
            self.seed_references()
        if fresh and self.settings.seed_demo:
            self.seed_demo()  # rows and their robustness files
        elif self.settings.seed_demo:
            self.seed_demo_robustness()  # a store made before the demo rows had robustness files gets them

    @classmethod
    def open(cls, settings: LeaderboardSettings | None = None, **overrides: Any) -> Leaderboard:
        """Open the SQLite store named by the settings (``overrides`` replace individual settings).

        With ``hub_dataset`` the store is mirrored to that dataset and rebuilt from it
        (:func:`leaderboard.hub_sync.open_mirrored`; raises ``HubSyncError`` when it cannot start).
        """
        from leaderboard.sqlite_store import SQLiteStore

        settings = (settings or LeaderboardSettings()).model_copy(update=overrides)
        if settings.hub_dataset:
            from leaderboard.hub_sync import open_mirrored, remote_for

            token = settings.hub_token.get_secret_value() if settings.hub_token else None
            return cls(open_mirrored(settings.db_path, remote_for(settings.hub_dataset, token)), settings)
        return cls(SQLiteStore(settings.db_path), settings)

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Leaderboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- submissions --

    def preview(
        self,
        data: bytes,
        *,
        filename: str | None = None,
        samples: bytes | None = None,
        metadata: MetadataOverrides | Mapping[str, Any] | None = None,
        accuracy_unit: Unit = Unit.PERCENT,
    ) -> ParsedUpload:
        """Validate an upload and return what would be stored; stores nothing.

        Raises:
            ValidationFailed: With field-level issues.
        """
        return parse_upload(
            data,
            filename=filename,
            samples=samples,
            metadata=metadata,
            accuracy_unit=accuracy_unit,
            max_bytes=self.settings.max_file_bytes,
            max_samples_bytes=self.settings.max_samples_bytes,
        )

    def submit(
        self,
        data: bytes,
        *,
        filename: str | None = None,
        samples: bytes | None = None,
        metadata: MetadataOverrides | Mapping[str, Any] | None = None,
        accuracy_unit: Unit = Unit.PERCENT,
        status: Status = Status.PENDING,
        robustness: bytes | None = None,
        robustness_filename: str | None = None,
    ) -> StoredSubmission:
        """Validate and store an upload (pending moderation unless ``status`` says otherwise).

        ``robustness`` (a ``python -m probes.stress`` file for the same model, forget ratio and protocol) is
        stored with it in the same transaction and moderated with it.

        Raises:
            ValidationFailed: With field-level issues; nothing is stored.
            DuplicateSubmission: The same results are already stored (any status).
            RateLimited: The submitter reached the rate limit.
        """
        upload = self.preview(data, filename=filename, samples=samples, metadata=metadata, accuracy_unit=accuracy_unit)
        parsed = None if robustness is None else self.preview_robustness(robustness, upload,
                                                                         filename=robustness_filename)
        return self.store.add(upload, status=status, now=self._clock(), rate_limit=self._rate_limit(),
                              robustness=parsed)

    def preview_robustness(self, data: bytes, upload: ParsedUpload, *, filename: str | None = None
                           ) -> ParsedRobustness:
        """Validate a robustness file sent with ``upload`` (same model, forget ratio and protocol); stores nothing.

        Raises:
            ValidationFailed: With field-level issues (fields prefixed ``robustness.``).
        """
        meta = upload.submission.metadata
        parsed = parse_robustness(data, filename=filename, max_bytes=self.settings.max_file_bytes)
        check_matches(parsed, model_name=meta.model_name, forget_ratio=meta.forget_ratio,
                      protocol=meta.protocol.value, row="the results")
        return parsed

    def attach_robustness(self, submission_id: int, data: bytes, *, filename: str | None = None,
                          status: RobustnessStatus = RobustnessStatus.PENDING,
                          max_bytes: int | None = None) -> StoredRobustness:
        """Add a robustness file to an existing row, pending moderation unless ``status`` says otherwise.

        ``max_bytes`` replaces the upload size limit (``max_file_bytes``), for committed files.

        Raises:
            SubmissionNotFound: No such row.
            RowNotOpen: The row is rejected or withdrawn.
            ValidationFailed: The file is invalid, or is for another model, forget ratio or protocol.
            DuplicateRobustness: The same file is already attached to the row.
        """
        stored = self.store.get(submission_id)
        if stored.status in (Status.REJECTED, Status.WITHDRAWN):
            raise RowNotOpen(submission_id, stored.status.value)
        meta = stored.submission.metadata
        parsed = parse_robustness(data, filename=filename, max_bytes=max_bytes or self.settings.max_file_bytes)
        check_matches(parsed, model_name=meta.model_name, forget_ratio=meta.forget_ratio,
                      protocol=meta.protocol.value, row=f"row #{submission_id}")
        return self.store.add_robustness(submission_id, parsed, status=status, now=self._clock())

    def approve_robustness(self, robustness_id: int, *, reason: str | None = None) -> StoredRobustness:
        """Make a robustness file its row's current one (the previous one is kept, superseded)."""
        return self._change_robustness(robustness_id, RobustnessStatus.APPROVED, reason)

    def reject_robustness(self, robustness_id: int, *, reason: str | None = None) -> StoredRobustness:
        """Refuse a robustness file (kept, never shown); rejecting the current one leaves the row without."""
        return self._change_robustness(robustness_id, RobustnessStatus.REJECTED, reason)

    def _change_robustness(self, robustness_id: int, status: RobustnessStatus, reason: str | None
                           ) -> StoredRobustness:
        current = self.store.get_robustness(robustness_id)
        if current.status is status:
            refusal = AlreadyInStatus(robustness_id, status.value)
            refusal.args = (f"{current.label} (robustness file of #{current.submission_id}) is already "
                            f"{status.value}; nothing changed",)
            raise refusal
        return self.store.set_robustness_status(robustness_id, status, now=self._clock(), reason=reason)

    def robustness(self, submission_id: int) -> StoredRobustness | None:
        """The row's current (approved) robustness file, or ``None``."""
        return self.store.robustness(submission_id)

    def pending_robustness(self) -> list[StoredRobustness]:
        """Robustness files added to rows and waiting for a moderator, oldest first."""
        return [r for r in self.store.list_robustness(status=RobustnessStatus.PENDING) if not r.with_submission]

    def _rate_limit(self) -> RateLimit | None:
        if self.settings.rate_limit_count == 0:
            return None
        return RateLimit(self.settings.rate_limit_count, self.settings.rate_limit_window_hours)

    def approve(self, submission_id: int, *, reason: str | None = None) -> StoredSubmission:
        """Mark a submission approved (it enters the table). Raises ``AlreadyInStatus`` when it already is."""
        return self._change(submission_id, Status.APPROVED, reason)

    def reject(self, submission_id: int, *, reason: str | None = None) -> StoredSubmission:
        """Mark a submission rejected (kept, with its reason, but never ranked)."""
        return self._change(submission_id, Status.REJECTED, reason)

    def withdraw(self, submission_id: int, *, reason: str | None = None) -> StoredSubmission:
        """Take a submission off the board (kept, with its reason, shown in the changelog)."""
        return self._change(submission_id, Status.WITHDRAWN, reason)

    def _change(self, submission_id: int, status: Status, reason: str | None) -> StoredSubmission:
        current = self.store.get(submission_id)
        if current.status is status:
            raise AlreadyInStatus(current.id, status.value, current.submission.metadata.model_name)
        return self.store.set_status(submission_id, status, now=self._clock(), reason=reason)

    def changelog(self, *, limit: int = 200) -> list[Event]:
        """Approvals, rejections and withdrawals, newest first."""
        return self.store.events(actions=PUBLIC_ACTIONS, limit=limit)

    def get(self, submission_id: int) -> StoredSubmission:
        """One stored submission (raises ``SubmissionNotFound``)."""
        return self.store.get(submission_id)

    def raw(self, submission_id: int) -> RawFiles:
        """The files of a submission exactly as uploaded."""
        return self.store.raw(submission_id)

    def submissions(self, status: Status | None = None) -> list[StoredSubmission]:
        """Stored submissions, oldest first, optionally of one status."""
        return self.store.list(status=status)

    def seed_references(self) -> list[int]:
        """Store the community-reported reference rows (approved); returns the new ids (existing ones skipped)."""
        ids = []
        for reference in REFERENCES:
            try:
                stored = self.store.add(reference_upload(reference), status=Status.APPROVED, now=self._clock())
            except DuplicateSubmission:
                continue
            ids.append(stored.id)
        return ids

    def seed_demo(self, folder: Path = DEMO_RESULTS) -> list[int]:
        """Store the demo checkpoints' results (``NAME.submission.json`` + ``NAME.samples.jsonl``), approved.

        They are what ``python -m probes.evaluate`` wrote for ``demo-vanilla``, ``demo-ga``,
        ``demo-graddiff`` and ``demo-npo``: toy models, stored as kind ``demo`` so that they are never
        ranked among real rows. Existing ones are skipped.
        """
        ids = []
        for path in sorted(folder.glob("*.submission.json")):
            samples = path.with_name(path.name.replace(".submission.json", ".samples.jsonl"))
            # Committed files, not uploads: the upload size limits do not apply.
            upload = parse_upload(path.read_bytes(), filename=path.name,
                                  samples=samples.read_bytes() if samples.exists() else None,
                                  max_bytes=1 << 30, max_samples_bytes=1 << 30)
            try:
                stored = self.store.add(upload, status=Status.APPROVED, now=self._clock(), kind=RowKind.DEMO)
            except DuplicateSubmission:
                continue
            ids.append(stored.id)
        self.seed_demo_robustness(folder)
        return ids

    def seed_demo_robustness(self, folder: Path = DEMO_RESULTS) -> list[int]:
        """Attach ``NAME.robustness.json`` to the demo row stored from ``NAME.submission.json``, approved.

        Runs on every start (unless ``seed_demo`` is off), so stores made before the files existed get them,
        and a regenerated file replaces the row's current one (the old one kept, superseded). Idempotent: a
        file already attached is skipped. Returns the new robustness ids.
        """
        from benchmark.validation import load_json_document
        from leaderboard.ingest import content_hash

        ids = []
        for path in sorted(folder.glob("*.robustness.json")):
            results = path.with_name(path.name.replace(".robustness.json", ".submission.json"))
            if not results.exists():
                continue
            row = self.store.id_by_content(content_hash(load_json_document(results.read_bytes(), max_bytes=1 << 30)))
            if row is None:
                continue
            try:
                # Committed files, not uploads: the upload size limit does not apply.
                stored = self.attach_robustness(row, path.read_bytes(), filename=path.name,
                                                status=RobustnessStatus.APPROVED, max_bytes=1 << 30)
            except DuplicateRobustness:
                continue
            ids.append(stored.id)
        return ids

    # -- evaluation requests (leaderboard.requests validates them) --

    def add_request(self, request: EvaluationRequest) -> EvaluationRequest:
        """Store a validated evaluation request as pending (the submissions' rate limit applies per requester).

        Raises:
            DuplicateRequest: The same model, commit, forget ratio and protocol is pending, running or done.
            RateLimited: The requester reached the rate limit.
        """
        return self.store.add_request(request, now=self._clock(), rate_limit=self._rate_limit())

    def claim_request(self, worker: str) -> EvaluationRequest | None:
        """The oldest pending request, now running for ``worker`` (atomic); None when none is pending."""
        return self.store.claim_request(worker, now=self._clock())

    def fail_request(self, request_id: int, error: str) -> EvaluationRequest:
        """Record why a running request's evaluation failed (raises ``RequestNotFound``, ``RequestNotRunning``)."""
        return self.store.fail_request(request_id, error, now=self._clock())

    def complete_request(self, request_id: int, data: bytes, *, samples: bytes | None = None,
                         filename: str | None = None) -> StoredSubmission:
        """Store a worker's submission file for a running request: approved, marked evaluated by the board.

        The file goes through the submit path's validation and must be for the request's model, commit, forget
        ratio and protocol; the request becomes done in the same transaction.

        Raises:
            ValidationFailed: The file is invalid, or is not for the request.
            RequestNotFound, RequestNotRunning: No such request, or not claimed.
            DuplicateSubmission: The same results are already stored.
        """
        request = self.store.get_request(request_id)
        upload = self.preview(data, filename=filename, samples=samples)
        meta = upload.submission.metadata
        issues = [FieldIssue(f"metadata.{name}", f"is {got!r}, but E{request_id} asks for {want!r}")
                  for name, got, want in (("hub_repo", meta.hub_repo, request.hub_repo),
                                          ("hub_revision", meta.hub_revision, request.revision),
                                          ("forget_ratio", meta.forget_ratio, request.forget_ratio),
                                          ("protocol", meta.protocol.value, request.protocol.value))
                  if got != want]
        if issues:
            raise ValidationFailed(issues)
        return self.store.add(upload, status=Status.APPROVED, now=self._clock(), kind=RowKind.SUBMISSION,
                              request_id=request_id)

    def requests(self, *, limit: int = 200) -> list[EvaluationRequest]:
        """The most recent evaluation requests, newest first."""
        return self.store.list_requests(limit=limit)

    # -- the table --

    @property
    def version(self) -> int:
        """The store's version: changes on every write."""
        return self.store.version

    def table(
        self,
        protocol: Protocol = Protocol.OFFICIAL,
        *,
        metrics: MetricSelection = "all",
        statuses: tuple[Status, ...] = (Status.APPROVED,),
        kinds: tuple[RowKind, ...] = REAL_KINDS,
    ) -> LeaderboardTable:
        """The ranked table of one protocol: approved rows of these kinds (real rows by default).

        Built once per store version and kept (:data:`TABLE_CACHE_SIZE` tables); callers filter the
        returned table in memory and must not modify its frame.
        """
        key = (self.version, protocol, metrics, tuple(sorted(statuses)), tuple(sorted(kinds)))
        with self._tables_lock:
            cached = self._tables.get(key)
            if cached is not None:
                self._tables.move_to_end(key)
                return cached
        cell_keys = [c.id for c in columns_for(metrics)]
        frames = self.store.frames(statuses=statuses, protocol=protocol.value, keys=cell_keys, kinds=kinds)
        table = build_table(frames, protocol=protocol, metrics=metrics)
        with self._tables_lock:
            self._tables[key] = table
            while len(self._tables) > TABLE_CACHE_SIZE:
                self._tables.popitem(last=False)
        return table
