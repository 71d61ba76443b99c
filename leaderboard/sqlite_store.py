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

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmark.submission import Submission
from leaderboard.errors import DuplicateSubmission, RateLimited, SubmissionNotFound
from leaderboard.ingest import ParsedUpload, SourceFormat
from leaderboard.store import RateLimit, RawFiles, Status, StoredSubmission, StoreFrames

MIGRATIONS: tuple[tuple[str, ...], ...] = (
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
"""Schema migrations; ``MIGRATIONS[i]`` brings the database to version ``i + 1``. Append, never edit."""

_META_COLUMNS = (
    "id, status, source_format, model_name, base_model, method, forget_ratio, unlearning_modality, "
    "protocol, protocol_version, submitter, link, hub_repo, created_at"
)
_RECORD_COLUMNS = (
    "id, status, status_reason, source_format, content_hash, submission_json, filename, warnings_json, "
    "created_at, updated_at"
)


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
        with self._transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
            if current > len(MIGRATIONS):
                raise RuntimeError(
                    f"{self.path} has store schema version {current}, newer than this code ({len(MIGRATIONS)}); "
                    "upgrade mllmu-arena"
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[version - 1]:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, _iso(datetime.now(UTC))),
                )
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

    def add(
        self, upload: ParsedUpload, *, status: Status, now: datetime, rate_limit: RateLimit | None = None
    ) -> StoredSubmission:
        """Store an upload in one transaction (see :meth:`leaderboard.store.Store.add`)."""
        sub = upload.submission
        meta = sub.metadata
        with self._transaction() as conn:
            existing = conn.execute(
                "SELECT id, status FROM submissions WHERE content_hash = ?", (upload.content_hash,)
            ).fetchone()
            if existing is not None:
                raise DuplicateSubmission(existing["id"], existing["status"], upload.content_hash)
            if rate_limit is not None and upload.source_format is not SourceFormat.REFERENCE:
                since = _iso(now - timedelta(hours=rate_limit.window_hours))
                recent = conn.execute(
                    "SELECT COUNT(*) FROM submissions WHERE submitter = ? AND created_at > ? AND source_format != ?",
                    (meta.submitter, since, SourceFormat.REFERENCE.value),
                ).fetchone()[0]
                if recent >= rate_limit.limit:
                    raise RateLimited(meta.submitter, rate_limit.limit, rate_limit.window_hours)
            stamp = _iso(now)
            cursor = conn.execute(
                "INSERT INTO submissions (status, source_format, content_hash, submitter, model_name, base_model, "
                "method, forget_ratio, unlearning_modality, protocol, protocol_version, hub_repo, link, "
                "schema_version, submission_json, filename, raw, samples_raw, warnings_json, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    status.value,
                    upload.source_format.value,
                    upload.content_hash,
                    meta.submitter,
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
                    stamp,
                    stamp,
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
        return self.get(new_id)

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

    def find_by_hash(self, content_hash: str) -> StoredSubmission | None:
        """The submission with this content hash, if any."""
        found = self._select("WHERE content_hash = ?", (content_hash,))
        return found[0] if found else None

    def list(self, *, status: Status | None = None) -> list[StoredSubmission]:
        """Submissions, oldest first, optionally of one status."""
        if status is None:
            return self._select()
        return self._select("WHERE status = ?", (status.value,))

    def set_status(
        self, submission_id: int, status: Status, *, now: datetime, reason: str | None = None
    ) -> StoredSubmission:
        """Change the moderation status (and its reason) of one submission."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE submissions SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?",
                (status.value, reason, _iso(now), submission_id),
            )
            if cursor.rowcount == 0:
                raise SubmissionNotFound(submission_id)
        return self.get(submission_id)

    def frames(
        self, *, statuses: tuple[Status, ...], protocol: str | None = None, keys: Sequence[str] | None = None
    ) -> StoreFrames:
        """Bulk read for the table: two queries, plain tuples, no JSON decoding (see ``Store.frames``)."""
        import pandas as pd

        marks = ", ".join("?" for _ in statuses) or "NULL"
        where = f"WHERE status IN ({marks})"
        params: list[Any] = [s.value for s in statuses]
        if protocol is not None:
            where += " AND protocol = ?"
            params.append(protocol)
        cell_sql = (
            f"SELECT submission_id, key, value FROM cells WHERE submission_id IN (SELECT id FROM submissions {where})"
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
        return StoreFrames(
            pd.DataFrame.from_records(sub_rows, columns=sub_cols),
            pd.DataFrame.from_records(cell_rows, columns=["submission_id", "key", "value"]),
        )
