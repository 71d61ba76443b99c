"""The SQLite store: the only module of the leaderboard that touches SQLite.

One file (default ``var/leaderboard.sqlite`` relative to the working directory,
see :class:`leaderboard.service.LeaderboardSettings`), in WAL mode so that the
app can read while a submission is written. Every write is one ``BEGIN
IMMEDIATE`` transaction; duplicate and rate-limit checks run inside it, so two
concurrent uploads cannot both pass them. The layout is created and upgraded by
numbered migrations recorded in ``schema_migrations``.

Floats are stored as SQLite ``REAL`` (IEEE 754 doubles), so values read back are
bit-for-bit the values ingested.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmark.requests import EvaluationRequest, RequestStatus
from benchmark.submission import Submission, precision_variant
from leaderboard.errors import (
    DuplicateRequest,
    DuplicateRobustness,
    DuplicateSubmission,
    RateLimited,
    RequestNotFound,
    RequestNotRunning,
    RobustnessNotFound,
    SubmissionNotFound,
)
from leaderboard.ingest import ParsedUpload, SourceFormat
from leaderboard.robustness import ParsedRobustness, dump_summary
from leaderboard.store import (
    Event,
    RateLimit,
    RawFiles,
    RobustnessStatus,
    RowKind,
    Status,
    StoredRobustness,
    StoredSubmission,
    StoreFrames,
    StoreSnapshot,
    cells_signature,
    submitter_key,
)

_V1: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE submissions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
            status_reason TEXT,
            source_format TEXT NOT NULL CHECK (source_format IN ('upstream', 'submission', 'reference')),
            content_hash TEXT NOT NULL UNIQUE,
            submitter TEXT NOT NULL,
            model_name TEXT NOT NULL,
            base_model TEXT NOT NULL,
            method TEXT NOT NULL,
            forget_ratio INTEGER NOT NULL,
            unlearning_modality TEXT,
            protocol TEXT NOT NULL,
            protocol_version TEXT NOT NULL,
            hub_repo TEXT,
            link TEXT,
            schema_version INTEGER NOT NULL,
            submission_json TEXT NOT NULL,
            filename TEXT,
            raw BLOB NOT NULL,
            samples_raw BLOB,
            warnings_json TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX submissions_by_status ON submissions (status, protocol)",
        "CREATE INDEX submissions_by_submitter ON submissions (submitter, created_at)",
        """CREATE TABLE cells (
            submission_id INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            value REAL NOT NULL,
            unit TEXT NOT NULL,
            n INTEGER,
            n_unparsed INTEGER,
            ci_low REAL,
            ci_high REAL,
            ci_method TEXT,
            PRIMARY KEY (submission_id, key)
        ) WITHOUT ROWID""",
    ),
)
"""Version 1: the first layout (kept verbatim: an old store is upgraded from it)."""

def _to_v2(conn: sqlite3.Connection) -> None:
    """Version 2: row kinds, the ``withdrawn`` status, normalised submitters, cell signatures, an event log.

    SQLite cannot change a CHECK constraint in place, so ``submissions`` is rebuilt (SQLite's documented
    twelve-step procedure; foreign keys are off while it runs, and checked before the commit).
    Existing rows get their kind from their source (reference) or their name (``demo...``: the demo rows
    the store used to seed), and one event per known status change.
    """
    conn.execute(
        """CREATE TABLE submissions_v2 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('reference', 'demo', 'submission')),
            status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
            status_reason TEXT,
            source_format TEXT NOT NULL CHECK (source_format IN ('upstream', 'submission', 'reference')),
            content_hash TEXT NOT NULL,
            cells_hash TEXT NOT NULL,
            submitter TEXT NOT NULL,
            submitter_key TEXT NOT NULL,
            model_name TEXT NOT NULL,
            base_model TEXT NOT NULL,
            method TEXT NOT NULL,
            forget_ratio INTEGER NOT NULL,
            unlearning_modality TEXT,
            protocol TEXT NOT NULL,
            protocol_version TEXT NOT NULL,
            hub_repo TEXT,
            link TEXT,
            schema_version INTEGER NOT NULL,
            submission_json TEXT NOT NULL,
            filename TEXT,
            raw BLOB NOT NULL,
            samples_raw BLOB,
            warnings_json TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    shared = (
        "id, status, status_reason, source_format, content_hash, submitter, model_name, base_model, method, "
        "forget_ratio, unlearning_modality, protocol, protocol_version, hub_repo, link, schema_version, "
        "submission_json, filename, raw, samples_raw, warnings_json, created_at, updated_at"
    )
    conn.execute(
        f"INSERT INTO submissions_v2 ({shared}, kind, cells_hash, submitter_key) SELECT {shared}, "
        "CASE WHEN source_format = 'reference' THEN 'reference' "
        "WHEN lower(model_name) LIKE 'demo%' OR lower(base_model) LIKE 'demo%' THEN 'demo' ELSE 'submission' END, "
        "'', '' FROM submissions"
    )
    conn.execute("DROP TABLE submissions")
    conn.execute("ALTER TABLE submissions_v2 RENAME TO submissions")
    for row in conn.execute("SELECT id, submitter, submission_json FROM submissions").fetchall():
        signature = cells_signature(Submission.model_validate_json(row[2]))
        conn.execute(
            "UPDATE submissions SET cells_hash = ?, submitter_key = ? WHERE id = ?",
            (signature, submitter_key(row[1]), row[0]),
        )
    conn.execute("CREATE UNIQUE INDEX submissions_by_content ON submissions (content_hash)")
    conn.execute("CREATE INDEX submissions_by_cells ON submissions (cells_hash)")
    conn.execute("CREATE INDEX submissions_by_status ON submissions (status, protocol, kind)")
    conn.execute("CREATE INDEX submissions_by_submitter ON submissions (submitter_key, created_at)")
    conn.execute(
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            submission_id INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
            action TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            at TEXT NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX events_by_submission ON events (submission_id)")
    conn.execute(
        "INSERT INTO events (submission_id, action, status, reason, at) "
        "SELECT id, CASE WHEN kind = 'submission' THEN 'submitted' ELSE 'seeded' END, "
        "CASE WHEN status = 'approved' AND created_at = updated_at THEN 'approved' ELSE 'pending' END, "
        "NULL, created_at FROM submissions ORDER BY id"
    )
    conn.execute(
        "INSERT INTO events (submission_id, action, status, reason, at) "
        "SELECT id, status, status, status_reason, updated_at FROM submissions "
        "WHERE status != 'pending' AND updated_at != created_at ORDER BY updated_at, id"
    )


_V3: tuple[str, ...] = (
    """CREATE TABLE robustness (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        submission_id INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'superseded')),
        status_reason TEXT,
        with_submission INTEGER NOT NULL CHECK (with_submission IN (0, 1)),
        content_hash TEXT NOT NULL,
        schema_version INTEGER NOT NULL,
        raw BLOB NOT NULL,
        filename TEXT,
        summary_json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (submission_id, content_hash)
    )""",
    "CREATE UNIQUE INDEX robustness_current ON robustness (submission_id) WHERE status = 'approved'",
    "CREATE INDEX robustness_by_status ON robustness (status, submission_id)",
)
"""Version 3: robustness files (``python -m probes.stress``) attached to rows, verbatim, every version kept;
at most one approved (current) file per row. ``summary_json`` is derived from ``raw`` when stored."""

def _to_v4(conn: sqlite3.Connection) -> None:
    """Version 4: ``precision``, how a row's precision differs from upstream's (``precision_variant``), backfilled."""
    conn.execute("ALTER TABLE submissions ADD COLUMN precision TEXT")
    for row_id, text in conn.execute("SELECT id, submission_json FROM submissions").fetchall():
        variant = precision_variant(Submission.model_validate_json(text).provenance)
        if variant is not None:
            conn.execute("UPDATE submissions SET precision = ? WHERE id = ?", (variant, row_id))


def _to_v5(conn: sqlite3.Connection) -> None:
    """Version 5: evaluation requests (``leaderboard.requests``), claimed by workers; ``submissions.request_id``.

    ``request_id`` marks a row evaluated by the board (the request it answers; NULL for self-reported rows).
    Written to be re-runnable (``IF NOT EXISTS``), like a migration interrupted before it was recorded.
    """
    conn.execute(
        """CREATE TABLE IF NOT EXISTS evaluation_requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
            hub_repo TEXT NOT NULL,
            revision TEXT NOT NULL,
            base_model TEXT NOT NULL,
            method TEXT NOT NULL,
            forget_ratio INTEGER NOT NULL,
            protocol TEXT NOT NULL,
            requester TEXT NOT NULL,
            requester_key TEXT NOT NULL,
            worker TEXT,
            error TEXT,
            submission_id INTEGER REFERENCES submissions (id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    # One live request per model, commit, forget ratio and protocol; a failed one may be asked again.
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS requests_live ON evaluation_requests "
                 "(hub_repo, revision, forget_ratio, protocol) WHERE status != 'failed'")
    conn.execute("CREATE INDEX IF NOT EXISTS requests_by_status ON evaluation_requests (status, id)")
    conn.execute("CREATE INDEX IF NOT EXISTS requests_by_requester ON evaluation_requests (requester_key, created_at)")
    if "request_id" not in {row[1] for row in conn.execute("PRAGMA table_info(submissions)")}:
        conn.execute("ALTER TABLE submissions ADD COLUMN request_id INTEGER REFERENCES evaluation_requests (id)")


Migration = tuple[str, ...] | Callable[[sqlite3.Connection], None]

MIGRATIONS: tuple[Migration, ...] = (*_V1, _to_v2, _V3, _to_v4, _to_v5)
"""Schema migrations; ``MIGRATIONS[i]`` brings the database to version ``i + 1``. Append, never edit."""

_META_COLUMNS = (
    "id, kind, status, source_format, model_name, base_model, method, forget_ratio, unlearning_modality, "
    "protocol, protocol_version, submitter, link, hub_repo, precision, created_at, "
    "request_id IS NOT NULL AS evaluated_by_board"
)
_ROBUSTNESS_COLUMNS = (
    "id, submission_id, status, status_reason, with_submission, content_hash, raw, filename, created_at, updated_at"
)
_RECORD_COLUMNS = (
    "id, kind, status, status_reason, source_format, content_hash, submission_json, filename, warnings_json, "
    "created_at, updated_at"
)


CLAIM_LEASE = timedelta(hours=48)
"""A running evaluation request whose worker sent no news for this long can be claimed again (a worker killed
hard, or its machine gone). Longer than any evaluation of a 7B model on one GPU should take."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class SQLiteStore:
    """A :class:`~leaderboard.store.Store` in one SQLite file (or ``":memory:"``)."""

    def __init__(self, path: str | Path) -> None:
        """Open (creating it and its folder if needed) and migrate the database at ``path``."""
        self.path = path if path == ":memory:" else Path(path)
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA busy_timeout = 30000")
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._fresh = self._migrate()

    # -- plumbing --

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _migrate(self) -> bool:
        # Foreign keys must be off while a table is rebuilt (the pragma is a no-op inside a transaction).
        self._conn.execute("PRAGMA foreign_keys = OFF")
        try:
            with self._transaction() as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
                if current > len(MIGRATIONS):
                    raise RuntimeError(
                        f"{self.path} has store schema version {current}, newer than this code "
                        f"({len(MIGRATIONS)}); upgrade mllmu-arena"
                    )
                for version in range(current + 1, len(MIGRATIONS) + 1):
                    migration = MIGRATIONS[version - 1]
                    if callable(migration):
                        migration(conn)
                    else:
                        for statement in migration:
                            conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                        (version, _iso(datetime.now(UTC))),
                    )
                broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(
                        f"{self.path}: migration left {len(broken)} broken reference(s); nothing changed"
                    )
        finally:
            self._conn.execute("PRAGMA foreign_keys = ON")
        return current == 0

    @property
    def fresh(self) -> bool:
        """True when the database was created empty by this instance."""
        return self._fresh

    @property
    def schema_version(self) -> int:
        """The store layout version (number of applied migrations)."""
        with self._lock:
            return int(self._conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def _record(self, row: sqlite3.Row) -> StoredSubmission:
        return StoredSubmission(
            id=row["id"],
            kind=RowKind(row["kind"]),
            status=Status(row["status"]),
            status_reason=row["status_reason"],
            source_format=SourceFormat(row["source_format"]),
            submission=Submission.model_validate_json(row["submission_json"]),
            content_hash=row["content_hash"],
            filename=row["filename"],
            warnings=tuple(json.loads(row["warnings_json"])),
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
        )

    def _select(self, where: str = "", params: Sequence[Any] = ()) -> list[StoredSubmission]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM submissions {where} ORDER BY id", tuple(params)
            ).fetchall()
        return [self._record(row) for row in rows]

    # -- the Store protocol --

    @property
    def version(self) -> int:
        """The id of the newest event: every write adds one, so it changes on every write."""
        with self._lock:
            return int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

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
        """Store an upload in one transaction (see :meth:`leaderboard.store.Store.add`)."""
        sub = upload.submission
        meta = sub.metadata
        if kind is None:
            kind = RowKind.REFERENCE if upload.source_format is SourceFormat.REFERENCE else RowKind.SUBMISSION
        signature = cells_signature(sub)
        who = submitter_key(meta.submitter)
        with self._transaction() as conn:
            if request_id is not None:
                self._running_request(conn, request_id)
            existing = conn.execute(
                "SELECT id, status, kind, model_name FROM submissions WHERE cells_hash = ? OR content_hash = ? "
                "ORDER BY id LIMIT 1",
                (signature, upload.content_hash),
            ).fetchone()
            if existing is not None:
                raise DuplicateSubmission(existing["id"], existing["status"], upload.content_hash,
                                          model_name=existing["model_name"], kind=existing["kind"])
            if rate_limit is not None and kind is RowKind.SUBMISSION:
                since = _iso(now - timedelta(hours=rate_limit.window_hours))
                recent = conn.execute(
                    "SELECT COUNT(*) FROM submissions WHERE submitter_key = ? AND created_at > ? AND kind = ?",
                    (who, since, RowKind.SUBMISSION.value),
                ).fetchone()[0]
                if recent >= rate_limit.limit:
                    raise RateLimited(meta.submitter, rate_limit.limit, rate_limit.window_hours)
            stamp = _iso(now)
            cursor = conn.execute(
                "INSERT INTO submissions (kind, status, source_format, content_hash, cells_hash, submitter, "
                "submitter_key, model_name, base_model, method, forget_ratio, unlearning_modality, protocol, "
                "protocol_version, hub_repo, link, schema_version, submission_json, filename, raw, samples_raw, "
                "warnings_json, precision, created_at, updated_at, request_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    kind.value,
                    status.value,
                    upload.source_format.value,
                    upload.content_hash,
                    signature,
                    meta.submitter,
                    who,
                    meta.model_name,
                    meta.base_model,
                    meta.method,
                    meta.forget_ratio,
                    None if meta.unlearning_modality is None else meta.unlearning_modality.value,
                    meta.protocol.value,
                    meta.protocol_version,
                    meta.hub_repo,
                    meta.link,
                    sub.schema_version,
                    sub.model_dump_json(),
                    upload.filename,
                    upload.raw,
                    upload.samples_raw,
                    json.dumps(list(upload.warnings)),
                    precision_variant(sub.provenance),
                    stamp,
                    stamp,
                    request_id,
                ),
            )
            new_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO cells (submission_id, key, value, unit, n, n_unparsed, ci_low, ci_high, ci_method) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        new_id,
                        c.key.id,
                        c.value,
                        c.unit.value,
                        c.n,
                        c.n_unparsed,
                        c.ci_low,
                        c.ci_high,
                        c.ci_method,
                    )
                    for c in sub.cells
                ],
            )
            action = "submitted" if kind is RowKind.SUBMISSION else "seeded"
            if request_id is not None:
                action = "evaluated by the board"
                conn.execute(
                    "UPDATE evaluation_requests SET status = 'done', submission_id = ?, error = NULL, updated_at = ? "
                    "WHERE id = ?",
                    (new_id, stamp, request_id),
                )
            self._log(conn, new_id, action, status, None if request_id is None else f"E{request_id}", stamp)
            if robustness is not None:
                file_status = RobustnessStatus.APPROVED if status is Status.APPROVED else RobustnessStatus.PENDING
                self._insert_robustness(conn, new_id, robustness, file_status, True, stamp)
        return self.get(new_id)

    @staticmethod
    def _log(conn: sqlite3.Connection, submission_id: int, action: str, status: Status, reason: str | None,
             stamp: str) -> None:
        conn.execute(
            "INSERT INTO events (submission_id, action, status, reason, at) VALUES (?, ?, ?, ?, ?)",
            (submission_id, action, status.value, reason, stamp),
        )

    def id_by_content(self, content_hash: str) -> int | None:
        """The id of the row stored from a file with this content hash, or ``None``."""
        with self._lock:
            row = self._conn.execute("SELECT id FROM submissions WHERE content_hash = ?", (content_hash,)).fetchone()
        return None if row is None else int(row[0])

    def get(self, submission_id: int) -> StoredSubmission:
        """One submission by id."""
        found = self._select("WHERE id = ?", (submission_id,))
        if not found:
            raise SubmissionNotFound(submission_id)
        return found[0]

    def raw(self, submission_id: int) -> RawFiles:
        """The files exactly as uploaded."""
        with self._lock:
            row = self._conn.execute(
                "SELECT raw, samples_raw, filename FROM submissions WHERE id = ?", (submission_id,)
            ).fetchone()
        if row is None:
            raise SubmissionNotFound(submission_id)
        return RawFiles(bytes(row["raw"]), None if row["samples_raw"] is None else bytes(row["samples_raw"]), row[2])

    def list(self, *, status: Status | None = None) -> list[StoredSubmission]:
        """Submissions, oldest first, optionally of one status."""
        if status is None:
            return self._select()
        return self._select("WHERE status = ?", (status.value,))

    def set_status(
        self, submission_id: int, status: Status, *, now: datetime, reason: str | None = None
    ) -> StoredSubmission:
        """Change the moderation status (and its reason) of one submission, and log the event."""
        stamp = _iso(now)
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE submissions SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?",
                (status.value, reason, stamp, submission_id),
            )
            if cursor.rowcount == 0:
                raise SubmissionNotFound(submission_id)
            self._log(conn, submission_id, status.value, status, reason, stamp)
            # A robustness file sent with its submission shares its fate.
            shared = conn.execute(
                "SELECT id FROM robustness WHERE submission_id = ? AND with_submission = 1 AND status = ? "
                "ORDER BY id DESC LIMIT 1",
                (submission_id, RobustnessStatus.PENDING.value),
            ).fetchone()
            if shared is not None and status in (Status.APPROVED, Status.REJECTED):
                follow = RobustnessStatus.APPROVED if status is Status.APPROVED else RobustnessStatus.REJECTED
                self._robustness_status(conn, shared[0], follow, None, stamp, log=False)
        return self.get(submission_id)

    def events(self, *, actions: tuple[str, ...] | None = None, limit: int = 500) -> builtins.list[Event]:
        """The most recent events, newest first (see ``Store.events``)."""
        where, params = "", []
        if actions is not None:
            where = f"WHERE e.action IN ({', '.join('?' for _ in actions) or 'NULL'})"
            params = list(actions)
        with self._lock:
            rows = self._conn.execute(
                "SELECT e.id, e.submission_id, e.action, e.status, e.reason, e.at, s.model_name, s.kind "
                f"FROM events e JOIN submissions s ON s.id = e.submission_id {where} ORDER BY e.id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [
            Event(r[0], r[1], r[2], Status(r[3]), r[4], datetime.fromisoformat(r[5]), r[6], RowKind(r[7]))
            for r in rows
        ]

    def frames(
        self,
        *,
        statuses: tuple[Status, ...],
        protocol: str | None = None,
        keys: Sequence[str] | None = None,
        kinds: tuple[RowKind, ...] | None = None,
    ) -> StoreFrames:
        """Bulk read for the table: two queries, plain tuples, no JSON decoding (see ``Store.frames``)."""
        import pandas as pd

        marks = ", ".join("?" for _ in statuses) or "NULL"
        where = f"WHERE status IN ({marks})"
        params: list[Any] = [s.value for s in statuses]
        if protocol is not None:
            where += " AND protocol = ?"
            params.append(protocol)
        if kinds is not None:
            where += f" AND kind IN ({', '.join('?' for _ in kinds) or 'NULL'})"
            params += [k.value for k in kinds]
        cell_sql = (
            "SELECT submission_id, key, value, ci_low, ci_high FROM cells "
            f"WHERE submission_id IN (SELECT id FROM submissions {where})"
        )
        cell_params = list(params)
        if keys is not None:
            cell_sql += f" AND key IN ({', '.join('?' for _ in keys) or 'NULL'})"
            cell_params += list(keys)
        with self._lock:
            subs = self._conn.cursor()
            subs.row_factory = None  # plain tuples: several times faster than sqlite3.Row for bulk reads
            sub_rows = subs.execute(f"SELECT {_META_COLUMNS} FROM submissions {where} ORDER BY id", params).fetchall()
            sub_cols = [d[0] for d in subs.description]
            cells = self._conn.cursor()
            cells.row_factory = None
            cell_rows = cells.execute(cell_sql, cell_params).fetchall()
            robust = self._conn.cursor()
            robust.row_factory = None
            robust_rows = robust.execute(
                "SELECT submission_id, summary_json FROM robustness WHERE status = 'approved' "
                f"AND submission_id IN (SELECT id FROM submissions {where})",
                params,
            ).fetchall()
        return StoreFrames(
            pd.DataFrame.from_records(sub_rows, columns=sub_cols),
            pd.DataFrame.from_records(cell_rows, columns=["submission_id", "key", "value", "ci_low", "ci_high"]),
            pd.DataFrame.from_records(robust_rows, columns=["submission_id", "summary_json"]),
        )

    # -- rebuilding --

    def restore(self, snapshot: StoreSnapshot) -> None:
        """Fill an empty store with ``snapshot`` in one transaction, keeping every id, timestamp and state.

        Rows, robustness files, events and evaluation requests (a done request and its row name each other).
        What ``add`` derives (cells, signatures, submitter keys, precision, robustness summaries) is derived
        again from the stored submission and files; the id counters continue after the largest restored id.
        :mod:`leaderboard.hub_sync` rebuilds the store from its dataset with it.

        Raises:
            ValueError: The store is not empty (nothing changed).
        """
        from benchmark.robustness import read_robustness

        now_utc = datetime.now(UTC)
        with self._transaction() as conn:
            if conn.execute("SELECT EXISTS (SELECT 1 FROM submissions) OR EXISTS (SELECT 1 FROM events) "
                            "OR EXISTS (SELECT 1 FROM evaluation_requests)").fetchone()[0]:
                raise ValueError(f"{self.path}: restore needs an empty store; this one has rows (nothing changed)")
            for stored, files in snapshot.submissions:
                sub, meta = stored.submission, stored.submission.metadata
                conn.execute(
                    "INSERT INTO submissions (id, kind, status, status_reason, source_format, content_hash, "
                    "cells_hash, submitter, submitter_key, model_name, base_model, method, forget_ratio, "
                    "unlearning_modality, protocol, protocol_version, hub_repo, link, schema_version, "
                    "submission_json, filename, raw, samples_raw, warnings_json, precision, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (stored.id, stored.kind.value, stored.status.value, stored.status_reason,
                     stored.source_format.value, stored.content_hash, cells_signature(sub), meta.submitter,
                     submitter_key(meta.submitter), meta.model_name, meta.base_model, meta.method, meta.forget_ratio,
                     None if meta.unlearning_modality is None else meta.unlearning_modality.value,
                     meta.protocol.value, meta.protocol_version, meta.hub_repo, meta.link, sub.schema_version,
                     sub.model_dump_json(), files.filename, files.results, files.samples,
                     json.dumps(list(stored.warnings)), precision_variant(sub.provenance), _iso(stored.created_at),
                     _iso(stored.updated_at)),
                )
                conn.executemany(
                    "INSERT INTO cells (submission_id, key, value, unit, n, n_unparsed, ci_low, ci_high, ci_method) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(stored.id, c.key.id, c.value, c.unit.value, c.n, c.n_unparsed, c.ci_low, c.ci_high, c.ci_method)
                     for c in sub.cells],
                )
            for r in snapshot.robustness:
                result = read_robustness(r.raw, max_bytes=max(len(r.raw), 1))
                conn.execute(
                    "INSERT INTO robustness (id, submission_id, status, status_reason, with_submission, content_hash, "
                    "schema_version, raw, filename, summary_json, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (r.id, r.submission_id, r.status.value, r.status_reason, int(r.with_submission), r.content_hash,
                     result.schema_version, r.raw, r.filename, dump_summary(result), _iso(r.created_at),
                     _iso(r.updated_at)),
                )
            conn.executemany(
                "INSERT INTO events (id, submission_id, action, status, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
                [(e.id, e.submission_id, e.action, e.status.value, e.reason, _iso(e.at)) for e in snapshot.events],
            )
            for q in snapshot.requests:
                created = q.created_at or now_utc
                conn.execute(
                    "INSERT INTO evaluation_requests (id, status, hub_repo, revision, base_model, method, "
                    "forget_ratio, protocol, requester, requester_key, worker, error, submission_id, created_at, "
                    "updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (q.id, q.status.value, q.hub_repo, q.revision, q.base_model, q.method, q.forget_ratio,
                     q.protocol.value, q.requester, submitter_key(q.requester), q.worker, q.error, q.submission_id,
                     _iso(created), _iso(q.updated_at or created)),
                )
                if q.submission_id is not None:  # the row is the board's evaluation of this request
                    conn.execute("UPDATE submissions SET request_id = ? WHERE id = ?", (q.id, q.submission_id))

        # -- robustness files --

    def _insert_robustness(self, conn: sqlite3.Connection, submission_id: int, parsed: ParsedRobustness,
                           status: RobustnessStatus, with_submission: bool, stamp: str) -> int:
        existing = conn.execute(
            "SELECT id, status FROM robustness WHERE submission_id = ? AND content_hash = ?",
            (submission_id, parsed.content_hash),
        ).fetchone()
        if existing is not None:
            raise DuplicateRobustness(existing[0], submission_id, existing[1])
        if status is RobustnessStatus.APPROVED:
            self._supersede(conn, submission_id, stamp)
        cursor = conn.execute(
            "INSERT INTO robustness (submission_id, status, with_submission, content_hash, schema_version, raw, "
            "filename, summary_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (submission_id, status.value, int(with_submission), parsed.content_hash,
             parsed.result.schema_version, parsed.raw, parsed.filename, dump_summary(parsed.result), stamp, stamp),
        )
        return int(cursor.lastrowid or 0)

    @staticmethod
    def _supersede(conn: sqlite3.Connection, submission_id: int, stamp: str) -> None:
        conn.execute(
            "UPDATE robustness SET status = 'superseded', updated_at = ? WHERE submission_id = ? "
            "AND status = 'approved'",
            (stamp, submission_id),
        )

    def _robustness_status(self, conn: sqlite3.Connection, robustness_id: int, status: RobustnessStatus,
                           reason: str | None, stamp: str, *, log: bool = True) -> None:
        row = conn.execute("SELECT submission_id FROM robustness WHERE id = ?", (robustness_id,)).fetchone()
        if row is None:
            raise RobustnessNotFound(robustness_id)
        if status is RobustnessStatus.APPROVED:
            self._supersede(conn, row[0], stamp)
        conn.execute("UPDATE robustness SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?",
                     (status.value, reason, stamp, robustness_id))
        if log:
            sub_status = conn.execute("SELECT status FROM submissions WHERE id = ?", (row[0],)).fetchone()[0]
            self._log(conn, row[0], f"robustness {status.value}", Status(sub_status),
                      f"R{robustness_id}" + (f": {reason}" if reason else ""), stamp)

    def add_robustness(self, submission_id: int, parsed: ParsedRobustness, *, status: RobustnessStatus,
                       now: datetime, with_submission: bool = False) -> StoredRobustness:
        """Attach a robustness file to a row in one transaction (see ``Store.add_robustness``)."""
        stamp = _iso(now)
        with self._transaction() as conn:
            row = conn.execute("SELECT status FROM submissions WHERE id = ?", (submission_id,)).fetchone()
            if row is None:
                raise SubmissionNotFound(submission_id)
            new_id = self._insert_robustness(conn, submission_id, parsed, status, with_submission, stamp)
            # Every write adds an event, so that the store's version (and the cached tables) change.
            # Approved on arrival only when seeded (uploads are pending until a moderator approves them).
            action = "robustness added" if status is RobustnessStatus.PENDING else f"robustness {status.value}"
            if status is RobustnessStatus.APPROVED:
                action = "robustness seeded"
            self._log(conn, submission_id, action, Status(row[0]), f"R{new_id}", stamp)
        return self.get_robustness(new_id)

    def _robustness_record(self, row: sqlite3.Row) -> StoredRobustness:
        return StoredRobustness(
            id=row["id"],
            submission_id=row["submission_id"],
            status=RobustnessStatus(row["status"]),
            status_reason=row["status_reason"],
            with_submission=bool(row["with_submission"]),
            raw=bytes(row["raw"]),
            content_hash=row["content_hash"],
            filename=row["filename"],
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
        )

    def _select_robustness(self, where: str, params: Sequence[Any] = ()) -> builtins.list[StoredRobustness]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_ROBUSTNESS_COLUMNS} FROM robustness {where} ORDER BY id", tuple(params)
            ).fetchall()
        return [self._robustness_record(row) for row in rows]

    def robustness(self, submission_id: int) -> StoredRobustness | None:
        """The row's current (approved) robustness file, or ``None``."""
        found = self._select_robustness("WHERE submission_id = ? AND status = 'approved'", (submission_id,))
        return found[-1] if found else None

    def robustness_history(self, submission_id: int) -> builtins.list[StoredRobustness]:
        """Every robustness file of a row, oldest first."""
        return self._select_robustness("WHERE submission_id = ?", (submission_id,))

    def get_robustness(self, robustness_id: int) -> StoredRobustness:
        """One robustness file by id."""
        found = self._select_robustness("WHERE id = ?", (robustness_id,))
        if not found:
            raise RobustnessNotFound(robustness_id)
        return found[0]

    def list_robustness(self, *, status: RobustnessStatus | None = None) -> builtins.list[StoredRobustness]:
        """Robustness files, oldest first, optionally of one status."""
        if status is None:
            return self._select_robustness("")
        return self._select_robustness("WHERE status = ?", (status.value,))

    def set_robustness_status(self, robustness_id: int, status: RobustnessStatus, *, now: datetime,
                              reason: str | None = None) -> StoredRobustness:
        """Approve (superseding the row's current file) or reject a robustness file, and log the event."""
        with self._transaction() as conn:
            self._robustness_status(conn, robustness_id, status, reason, _iso(now))
        return self.get_robustness(robustness_id)

    # -- evaluation requests --

    _REQUEST_COLUMNS = (
        "id, status, hub_repo, revision, base_model, method, forget_ratio, protocol, requester, worker, error, "
        "submission_id, created_at, updated_at"
    )

    @staticmethod
    def _request(row: sqlite3.Row) -> EvaluationRequest:
        return EvaluationRequest.model_validate(dict(row))

    def add_request(self, fields: EvaluationRequest, *, now: datetime,
                    rate_limit: RateLimit | None = None) -> EvaluationRequest:
        """Store a request as pending, in one transaction (see ``Store.add_request``); ``fields.id`` is ignored."""
        stamp = _iso(now)
        who = submitter_key(fields.requester)
        with self._transaction() as conn:
            existing = conn.execute(
                "SELECT id, status FROM evaluation_requests WHERE hub_repo = ? AND revision = ? AND forget_ratio = ? "
                "AND protocol = ? AND status != 'failed' ORDER BY id LIMIT 1",
                (fields.hub_repo, fields.revision, fields.forget_ratio, fields.protocol.value),
            ).fetchone()
            if existing is not None:
                raise DuplicateRequest(existing[0], existing[1], fields.hub_repo, fields.revision)
            if rate_limit is not None:
                since = _iso(now - timedelta(hours=rate_limit.window_hours))
                recent = conn.execute(
                    "SELECT COUNT(*) FROM evaluation_requests WHERE requester_key = ? AND created_at > ?", (who, since)
                ).fetchone()[0]
                if recent >= rate_limit.limit:
                    refusal = RateLimited(fields.requester, rate_limit.limit, rate_limit.window_hours)
                    refusal.args = (f"rate limit: {fields.requester!r} already made {rate_limit.limit} evaluation "
                                    f"request(s) in the last {rate_limit.window_hours:g} h; try again later",)
                    raise refusal
            cursor = conn.execute(
                "INSERT INTO evaluation_requests (status, hub_repo, revision, base_model, method, forget_ratio, "
                "protocol, requester, requester_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (RequestStatus.PENDING.value, fields.hub_repo, fields.revision, fields.base_model, fields.method,
                 fields.forget_ratio, fields.protocol.value, fields.requester, who, stamp, stamp),
            )
            new_id = int(cursor.lastrowid or 0)
        return self.get_request(new_id)

    def claim_request(self, worker: str, *, now: datetime, lease: timedelta = CLAIM_LEASE) -> EvaluationRequest | None:
        """The oldest claimable request, now running and claimed by ``worker``; None when none is claimable.

        Claimable: pending, or running without news for longer than ``lease`` (its worker was killed or its
        machine died; a normal interrupt records the failure itself). One ``UPDATE`` inside a ``BEGIN IMMEDIATE``
        transaction: two workers (threads or processes) never get the same request.
        """
        stale = _iso(now - lease)
        with self._transaction() as conn:
            row = conn.execute(
                "UPDATE evaluation_requests SET status = 'running', worker = ?, error = NULL, updated_at = ? "
                "WHERE id = (SELECT id FROM evaluation_requests WHERE status = 'pending' "
                "OR (status = 'running' AND updated_at < ?) ORDER BY id LIMIT 1) "
                "AND (status = 'pending' OR (status = 'running' AND updated_at < ?)) RETURNING id",
                (worker, _iso(now), stale, stale),
            ).fetchone()
        return None if row is None else self.get_request(int(row[0]))

    @staticmethod
    def _running_request(conn: sqlite3.Connection, request_id: int) -> None:
        row = conn.execute("SELECT status FROM evaluation_requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            raise RequestNotFound(request_id)
        if row[0] != RequestStatus.RUNNING.value:
            raise RequestNotRunning(request_id, row[0])

    def fail_request(self, request_id: int, error: str, *, now: datetime) -> EvaluationRequest:
        """Mark a running request failed with ``error`` (raises ``RequestNotFound``, ``RequestNotRunning``)."""
        with self._transaction() as conn:
            self._running_request(conn, request_id)
            conn.execute("UPDATE evaluation_requests SET status = 'failed', error = ?, updated_at = ? WHERE id = ?",
                         (error, _iso(now), request_id))
        return self.get_request(request_id)

    def get_request(self, request_id: int) -> EvaluationRequest:
        """One request by id (raises ``RequestNotFound``)."""
        with self._lock:
            row = self._conn.execute(f"SELECT {self._REQUEST_COLUMNS} FROM evaluation_requests WHERE id = ?",
                                     (request_id,)).fetchone()
        if row is None:
            raise RequestNotFound(request_id)
        return self._request(row)

    def list_requests(self, *, limit: int = 200) -> builtins.list[EvaluationRequest]:
        """The most recent requests, newest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {self._REQUEST_COLUMNS} FROM evaluation_requests ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self._request(row) for row in rows]
