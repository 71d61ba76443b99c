"""Hub-dataset persistence: the store mirrored as versioned JSON documents in a dataset, rebuilt from it on start.

A Space's disk is wiped on restart unless the host pays for persistent storage, and a fresh store re-seeds
the reference and demo rows, so a wiped board looks normal with every community submission gone. With
``MLLMU_HUB_DATASET`` set, the dataset is the record and the SQLite file a cache:

* every store write (:class:`MirroredStore` overrides the writes of :class:`~leaderboard.sqlite_store.
  SQLiteStore`) rewrites the documents of the rows and requests it touched in a local folder, atomically,
  and records their paths in a durable pending list (``.sync/pending.json``) before writing them;
* a :class:`Remote` pushes the pending documents as one commit (the Hub: ``HfApi.create_commit``, in the
  background, so a submit does not wait for the network; a local folder: copies, for tests and hosts with a
  mounted volume). A failed push keeps them pending: they go with the next change, a retry a minute later,
  or the next start;
* on start (:func:`open_mirrored`): pending documents are pushed, the dataset is pulled into the local
  folder, SQLite events newer than the dataset's (a crash between the SQLite commit and the document write)
  and requests the SQLite file has newer are mirrored, and a SQLite file that differs from the dataset is
  set aside and the store rebuilt from the documents (:meth:`~leaderboard.sqlite_store.SQLiteStore.restore`:
  ids, timestamps, states, robustness versions, events and requests kept, so the board is the same).
  Reference and demo rows are seeded afterwards only where missing.

The dataset's layout (one document per row, robustness file and request; uploaded files verbatim beside)::

    dataset.json                               {"format": "mllmu-arena/dataset", "version": 1, "kinds": {...}}
    submissions/000/000012.json                a row: state, canonical submission, its events (its history)
    submissions/000/000012.results.json        the uploaded results file, verbatim
    submissions/000/000012.samples.jsonl       the uploaded samples file, verbatim (if any)
    robustness/000/000003.json                 a robustness file's state (every version is its own id)
    robustness/000/000003.file.json            the uploaded robustness file, verbatim
    requests/000/000005.json                   an evaluation request (a done one names the row it became)

Each document carries ``format`` and ``version``. :data:`KINDS` is the registry of document kinds: a new
table is mirrored by adding a kind (its folder, version, writer and reader) and reading it in :func:`load`;
a reader refuses a dataset whose ``dataset.json`` names a kind or version it does not know (written by a
newer app) instead of dropping its documents. Only one app should write to a dataset.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from benchmark.files import atomic_write, dumps
from benchmark.requests import EvaluationRequest
from benchmark.submission import Submission
from leaderboard.errors import LeaderboardError
from leaderboard.ingest import SourceFormat
from leaderboard.sqlite_store import SQLiteStore
from leaderboard.store import (
    Event,
    RawFiles,
    RobustnessStatus,
    RowKind,
    Status,
    StoredRobustness,
    StoredSubmission,
    StoreSnapshot,
)

if TYPE_CHECKING:
    from huggingface_hub import HfApi

LOG = logging.getLogger(__name__)

FORMAT = "mllmu-arena"
"""Prefix of every document's ``format`` (``mllmu-arena/submission``, ...)."""

SYNC_DIR = ".sync"
"""The local folder's bookkeeping (never pushed): ``pending.json``, the documents written but not yet pushed."""

RETRY_S = 60.0
"""Seconds before a failed background push is tried again."""

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class DocumentKind:
    """One kind of document in the dataset: a store table, mirrored one document per record."""

    name: str
    """Its ``format`` is ``mllmu-arena/<name>``."""
    folder: str
    """Top-level folder of its documents."""
    version: int
    """Current layout version; readers refuse newer ones."""

    @property
    def format(self) -> str:
        """The ``format`` field of its documents."""
        return f"{FORMAT}/{self.name}"

    def path(self, record_id: int, suffix: str = ".json") -> str:
        """``submissions/000/000012.json``: a thousand records per subfolder (the Hub lists folders page by page)."""
        return f"{self.folder}/{record_id // 1000:03d}/{record_id:06d}{suffix}"


SUBMISSION = DocumentKind("submission", "submissions", 1)
ROBUSTNESS = DocumentKind("robustness", "robustness", 1)
REQUEST = DocumentKind("evaluation_request", "requests", 1)
KINDS: dict[str, DocumentKind] = {kind.name: kind for kind in (SUBMISSION, ROBUSTNESS, REQUEST)}
"""The registry of mirrored document kinds (add one here, with its writer and reader, for a new table)."""

MANIFEST = "dataset.json"
CARD = "README.md"
_CARD_TEXT = """---
pretty_name: MLLMU-Bench Arena leaderboard store
---
# MLLMU-Bench Arena: leaderboard store

Written by the MLLMU-Bench Arena app (`leaderboard/hub_sync.py`): every submission (its uploaded files verbatim,
its canonical form, its moderation history) and every robustness file, one JSON document each. The app rebuilds
its board from this dataset on start; do not edit it by hand. `dataset.json` names the document kinds and their
versions.
"""


class HubSyncError(LeaderboardError):
    """The dataset persistence cannot start: a setting is missing or wrong, or the dataset cannot be read."""


# -- documents ------------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "sha256": _sha256(data), "bytes": len(data)}


def _event_doc(event: Event) -> dict[str, Any]:
    return {"id": event.id, "action": event.action, "status": event.status.value, "reason": event.reason,
            "at": _iso(event.at)}


def submission_documents(stored: StoredSubmission, files: RawFiles, events: Sequence[Event]) -> dict[str, bytes]:
    """A row's document and its uploaded files (path in the dataset -> bytes)."""
    results_path = SUBMISSION.path(stored.id, ".results.json")
    out = {results_path: files.results}
    doc: dict[str, Any] = {
        "format": SUBMISSION.format,
        "version": SUBMISSION.version,
        "id": stored.id,
        "kind": stored.kind.value,
        "status": stored.status.value,
        "status_reason": stored.status_reason,
        "source_format": stored.source_format.value,
        "content_hash": stored.content_hash,
        "filename": files.filename,
        "warnings": list(stored.warnings),
        "created_at": _iso(stored.created_at),
        "updated_at": _iso(stored.updated_at),
        "files": {"results": _file_entry(results_path, files.results), "samples": None},
        "events": [_event_doc(e) for e in sorted(events, key=lambda e: e.id)],
        "submission": json.loads(stored.submission.model_dump_json()),
    }
    if files.samples is not None:
        samples_path = SUBMISSION.path(stored.id, ".samples.jsonl")
        out[samples_path] = files.samples
        doc["files"]["samples"] = _file_entry(samples_path, files.samples)
    out[SUBMISSION.path(stored.id)] = dumps(doc).encode()
    return out


def robustness_documents(stored: StoredRobustness) -> dict[str, bytes]:
    """A robustness file's document and the file itself (path in the dataset -> bytes)."""
    file_path = ROBUSTNESS.path(stored.id, ".file.json")
    doc = {
        "format": ROBUSTNESS.format,
        "version": ROBUSTNESS.version,
        "id": stored.id,
        "submission_id": stored.submission_id,
        "status": stored.status.value,
        "status_reason": stored.status_reason,
        "with_submission": stored.with_submission,
        "content_hash": stored.content_hash,
        "filename": stored.filename,
        "created_at": _iso(stored.created_at),
        "updated_at": _iso(stored.updated_at),
        "file": _file_entry(file_path, stored.raw),
    }
    return {file_path: stored.raw, ROBUSTNESS.path(stored.id): dumps(doc).encode()}


def request_documents(request: EvaluationRequest) -> dict[str, bytes]:
    """An evaluation request's document (a done one names the row it became: the row is marked evaluated)."""
    doc = {"format": REQUEST.format, "version": REQUEST.version, **json.loads(request.model_dump_json())}
    return {REQUEST.path(request.id): dumps(doc).encode()}


def manifest_document() -> bytes:
    """``dataset.json``: the document kinds and versions this app writes."""
    return dumps({"format": f"{FORMAT}/dataset", "version": 1,
                  "kinds": {k.name: {"folder": k.folder, "version": k.version} for k in KINDS.values()}}).encode()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise HubSyncError(f"{path}: not a readable JSON document ({exc}); restore the file from the dataset's "
                           "history on the Hub") from exc
    if not isinstance(doc, dict):
        raise HubSyncError(f"{path}: not a JSON object; restore the file from the dataset's history on the Hub")
    return doc


def _checked(doc: dict[str, Any], kind: DocumentKind, path: Path) -> dict[str, Any]:
    if doc.get("format") != kind.format:
        raise HubSyncError(f"{path}: format is {doc.get('format')!r}, expected {kind.format!r}")
    version = doc.get("version")
    if not isinstance(version, int) or version > kind.version:
        raise HubSyncError(f"{path}: {kind.name} document version {version!r} is newer than this app reads "
                           f"({kind.version}); upgrade mllmu-arena")
    return doc


def _verbatim(root: Path, entry: dict[str, Any], owner: Path) -> bytes:
    path = root / entry["path"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HubSyncError(f"{owner}: its file {entry['path']} cannot be read ({exc})") from exc
    if _sha256(data) != entry["sha256"]:
        raise HubSyncError(f"{path}: content differs from the SHA-256 its document {owner.name} records; restore "
                           "it from the dataset's history on the Hub")
    return data


def _load_submission(root: Path, path: Path) -> tuple[StoredSubmission, RawFiles, list[Event]]:
    doc = _checked(_read_json(path), SUBMISSION, path)
    try:
        kind = RowKind(doc["kind"])
        submission = Submission.model_validate(doc["submission"])
        stored = StoredSubmission(
            id=int(doc["id"]), status=Status(doc["status"]), source_format=SourceFormat(doc["source_format"]),
            submission=submission, content_hash=doc["content_hash"], filename=doc["filename"],
            created_at=datetime.fromisoformat(doc["created_at"]), updated_at=datetime.fromisoformat(doc["updated_at"]),
            status_reason=doc["status_reason"], warnings=tuple(doc["warnings"]), kind=kind,
        )
        samples = doc["files"]["samples"]
        files = RawFiles(_verbatim(root, doc["files"]["results"], path),
                         None if samples is None else _verbatim(root, samples, path), doc["filename"])
        events = [Event(int(e["id"]), stored.id, e["action"], Status(e["status"]), e["reason"],
                        datetime.fromisoformat(e["at"]), submission.metadata.model_name, kind) for e in doc["events"]]
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, HubSyncError):
            raise
        raise HubSyncError(f"{path}: not a valid {SUBMISSION.name} document ({exc})") from exc
    return stored, files, events


def _load_robustness(root: Path, path: Path) -> StoredRobustness:
    doc = _checked(_read_json(path), ROBUSTNESS, path)
    try:
        return StoredRobustness(
            id=int(doc["id"]), submission_id=int(doc["submission_id"]), status=RobustnessStatus(doc["status"]),
            with_submission=bool(doc["with_submission"]), raw=_verbatim(root, doc["file"], path),
            content_hash=doc["content_hash"], filename=doc["filename"],
            created_at=datetime.fromisoformat(doc["created_at"]), updated_at=datetime.fromisoformat(doc["updated_at"]),
            status_reason=doc["status_reason"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise HubSyncError(f"{path}: not a valid {ROBUSTNESS.name} document ({exc})") from exc


def _load_request(path: Path) -> EvaluationRequest:
    from pydantic import ValidationError

    doc = _checked(_read_json(path), REQUEST, path)
    try:
        return EvaluationRequest.model_validate(doc)
    except ValidationError as exc:
        raise HubSyncError(f"{path}: not a valid {REQUEST.name} document ({exc})") from exc


def _documents(root: Path, kind: DocumentKind) -> list[Path]:
    return sorted(p for p in (root / kind.folder).glob("*/*.json") if re.fullmatch(r"\d+\.json", p.name))


def load(root: Path) -> StoreSnapshot:
    """Read every document under ``root`` into a snapshot (rows, robustness files, events; each by id).

    Raises:
        HubSyncError: A document is unreadable, of an unknown kind or a newer version, or a verbatim file
            does not match the SHA-256 its document records.
    """
    manifest = root / MANIFEST
    if manifest.exists():
        kinds = _read_json(manifest).get("kinds", {})
        unknown = sorted(name for name, spec in kinds.items()
                         if name not in KINDS or int(spec.get("version", 0)) > KINDS[name].version)
        if unknown:
            raise HubSyncError(f"{root}: the dataset holds documents this app cannot read ({', '.join(unknown)}): "
                               "it was written by a newer mllmu-arena; upgrade the app")
    rows, events = [], []
    for path in _documents(root, SUBMISSION):
        stored, files, row_events = _load_submission(root, path)
        rows.append((stored, files))
        events += row_events
    robustness = [_load_robustness(root, path) for path in _documents(root, ROBUSTNESS)]
    requests = [_load_request(path) for path in _documents(root, REQUEST)]
    return StoreSnapshot(sorted(rows, key=lambda r: r[0].id), sorted(robustness, key=lambda r: r.id),
                         sorted(events, key=lambda e: e.id), tuple(sorted(requests, key=lambda q: q.id)))


# -- remotes --------------------------------------------------------------------------------------------


class Remote(Protocol):
    """Where the documents are kept: a Hub dataset, or a folder."""

    def describe(self) -> str:
        """What it is, for messages (``dataset owner/name``, ``folder /mnt/x``)."""
        ...

    def prepare(self) -> None:
        """Make sure it exists (the Hub: create the private dataset if missing). Raises ``HubSyncError``."""
        ...

    def pull(self, folder: Path, *, keep: Collection[str]) -> None:
        """Copy every document into ``folder``, leaving the paths in ``keep`` (pending local changes) alone."""
        ...

    def push(self, folder: Path, paths: Sequence[str], message: str) -> None:
        """Send these files of ``folder`` (paths relative to it) as one change; raises on failure."""
        ...


class FolderRemote:
    """A folder standing in for the dataset (tests; a host with a mounted volume)."""

    def __init__(self, root: str | Path) -> None:
        """Keep the documents under ``root`` (created on :meth:`prepare`)."""
        self.root = Path(root).expanduser()

    def describe(self) -> str:
        """``folder PATH``."""
        return f"folder {self.root}"

    def prepare(self) -> None:
        """Create the folder."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HubSyncError(f"cannot create the store's folder {self.root}: {exc.strerror}") from exc

    def pull(self, folder: Path, *, keep: Collection[str]) -> None:
        """Copy the files that differ (none of ``keep``)."""
        for source in sorted(self.root.rglob("*")):
            rel = source.relative_to(self.root).as_posix()
            if not source.is_file() or rel in keep or rel.startswith("."):
                continue
            data = source.read_bytes()
            target = folder / rel
            if not target.exists() or target.read_bytes() != data:
                atomic_write(target, data)

    def push(self, folder: Path, paths: Sequence[str], message: str) -> None:
        """Copy the files, each atomically."""
        for rel in paths:
            atomic_write(self.root / rel, (folder / rel).read_bytes())


class HubRemote:
    """A dataset repository on the Hugging Face Hub, written with ``HfApi.create_commit``."""

    def __init__(self, repo_id: str, token: str, *, api: HfApi | None = None) -> None:
        """Write to ``repo_id`` (a dataset) with ``token``; ``api`` replaces the ``HfApi`` client (tests)."""
        self.repo_id = repo_id
        self.token = token
        self._api = api

    @property
    def api(self) -> HfApi:
        """The Hub client (created on first use)."""
        if self._api is None:
            from huggingface_hub import HfApi

            self._api = HfApi(token=self.token)
        return self._api

    def describe(self) -> str:
        """``dataset owner/name``."""
        return f"dataset {self.repo_id}"

    def prepare(self) -> None:
        """Create the dataset (private) if it does not exist; a token without write access fails here."""
        try:
            self.api.create_repo(self.repo_id, repo_type="dataset", private=True, exist_ok=True)
        except Exception as exc:  # noqa: BLE001 - any Hub failure means the board cannot start safely
            raise HubSyncError(f"cannot open the dataset {self.repo_id} on the Hub ({type(exc).__name__}: {exc}); "
                               "check that HF_TOKEN has write access to it and the Hub is reachable") from exc

    def pull(self, folder: Path, *, keep: Collection[str]) -> None:
        """``snapshot_download`` into ``folder``, ignoring ``keep``."""
        try:
            self.api.snapshot_download(self.repo_id, repo_type="dataset", local_dir=folder,
                                       ignore_patterns=[*sorted(keep), ".gitattributes"])
        except Exception as exc:  # noqa: BLE001 - see prepare
            raise HubSyncError(f"cannot download the dataset {self.repo_id} ({type(exc).__name__}: {exc}); the "
                               "board does not start without it, so that no stored row is hidden") from exc

    def push(self, folder: Path, paths: Sequence[str], message: str) -> None:
        """One commit adding (or replacing) the files."""
        from huggingface_hub import CommitOperationAdd

        operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(folder / rel)) for rel in paths]
        self.api.create_commit(self.repo_id, operations, commit_message=message, repo_type="dataset")


def remote_for(dataset: str, token: str | None) -> Remote:
    """The remote named by the ``MLLMU_HUB_DATASET`` value.

    A path (``/...``, ``./...``, ``../...``, ``~...``) is a folder; otherwise a dataset id ``owner/name``, which
    needs ``token`` (``HF_TOKEN``).

    Raises:
        HubSyncError: Not a dataset id, or no token for one.
    """
    value = dataset.strip()
    if value.startswith(("/", "./", "../", "~")):
        return FolderRemote(value)
    if not REPO_ID.match(value):
        raise HubSyncError(f"MLLMU_HUB_DATASET={value!r} is neither a dataset id (owner/name) nor a folder path "
                           "(starting with / or ./)")
    if not token:
        raise HubSyncError(f"MLLMU_HUB_DATASET={value!r} is set but HF_TOKEN is not: add HF_TOKEN as a Space secret "
                           "(a token with write access to that dataset), or unset MLLMU_HUB_DATASET to run without "
                           "persistence")
    return HubRemote(value, token)


# -- the local folder and its pushes ---------------------------------------------------------------------


class Mirror:
    """The local folder of documents, what of it is not pushed yet, and the pushes.

    ``pending`` survives a crash (``.sync/pending.json``, written before the documents it names): what was
    written and not pushed is pushed on the next start.
    """

    def __init__(self, folder: str | Path, remote: Remote, *, background: bool = True,
                 retry_s: float = RETRY_S) -> None:
        """Keep the documents in ``folder`` and push them to ``remote``.

        Args:
            folder: The local folder (created if needed).
            remote: Where the documents are pushed.
            background: Push on a worker thread (the app); ``False`` pushes before a write returns (tests).
            retry_s: Seconds before a failed background push is tried again.
        """
        self.folder = Path(folder)
        self.remote = remote
        self.background = background
        self.retry_s = retry_s
        self._lock = threading.RLock()
        self._journal = self.folder / SYNC_DIR / "pending.json"
        self.pending: dict[str, int] = {}
        """Paths written but not pushed -> how many times written (a push clears only those unchanged since)."""
        if self._journal.exists():
            self.pending = dict.fromkeys(json.loads(self._journal.read_text(encoding="utf-8")), 0)
        self.pushes = 0
        """Successful pushes by this instance."""
        self._executor: ThreadPoolExecutor | None = None
        self._queued = False
        self._timer: threading.Timer | None = None
        self._closed = False

    def write(self, files: Mapping[str, bytes], *, once: Collection[str] = ()) -> None:
        """Write documents (path -> bytes), each atomically, recording them as pending first.

        Paths in ``once`` are verbatim uploads, never changed once written: skipped when present.
        """
        with self._lock:
            todo = {rel: data for rel, data in files.items() if rel not in once or not (self.folder / rel).exists()}
            if not todo:
                return
            for rel in todo:
                self.pending[rel] = self.pending.get(rel, 0) + 1
            self._save_pending()
            for rel, data in todo.items():
                atomic_write(self.folder / rel, data)

    def _save_pending(self) -> None:
        atomic_write(self._journal, json.dumps(sorted(self.pending)))

    def push(self) -> bool:
        """Push the pending documents as one change; True when nothing is left pending.

        A failure is logged and leaves them pending (nothing is lost; the next push sends them).
        """
        with self._lock:
            batch = dict(self.pending)
        paths = [rel for rel in sorted(batch) if (self.folder / rel).exists()]
        if not batch:
            return True
        try:
            if paths:
                self.remote.push(self.folder, paths, _message(paths))
        except Exception as exc:  # noqa: BLE001 - a failed push must not fail the write that asked for it
            LOG.warning("could not push %d document(s) to the %s (%s: %s); they stay pending in %s and are pushed "
                        "with the next change or on the next start", len(paths), self.remote.describe(),
                        type(exc).__name__, exc, self.folder)
            return False
        with self._lock:
            for rel, generation in batch.items():
                if self.pending.get(rel) == generation:
                    del self.pending[rel]
            self._save_pending()
            self.pushes += 1
            return not self.pending

    def schedule(self) -> None:
        """Push soon: now (``background=False``), else on the worker thread (coalescing queued pushes)."""
        if not self.background:
            self.push()
            return
        with self._lock:
            if self._queued or self._closed:
                return
            self._queued = True
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-sync")
            self._executor.submit(self._push_job)

    def _push_job(self) -> None:
        with self._lock:
            self._queued = False
        if not self.push():
            with self._lock:
                if self._closed or self._timer is not None:
                    return
                self._timer = threading.Timer(self.retry_s, self._retry)
                self._timer.daemon = True
                self._timer.start()

    def _retry(self) -> None:
        with self._lock:
            self._timer = None
        self.schedule()

    def flush(self) -> bool:
        """Wait for queued pushes, then push what is pending; True when nothing is left pending."""
        with self._lock:
            executor = self._executor
        if executor is not None:
            done: Future[None] = executor.submit(lambda: None)
            done.result()
        return self.push()

    def close(self) -> None:
        """Push what is pending (once), then stop the worker thread."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
        self.flush()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def start(self) -> StoreSnapshot:
        """Push what a previous run left pending, pull the dataset, and read it.

        Raises:
            HubSyncError: The remote cannot be prepared or read, or a document is invalid.
        """
        self.remote.prepare()
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.pending:
            LOG.info("pushing %d document(s) a previous run left pending", len(self.pending))
            self.push()
        with self._lock:
            keep = set(self.pending)
        self.remote.pull(self.folder, keep=keep)
        extra = {}
        if not (self.folder / MANIFEST).exists() or (self.folder / MANIFEST).read_bytes() != manifest_document():
            extra[MANIFEST] = manifest_document()
        if not (self.folder / CARD).exists():
            extra[CARD] = _CARD_TEXT.encode()
        snapshot = load(self.folder)  # refuses a newer dataset before the manifest is replaced
        if extra:
            self.write(extra)
        return snapshot


def _message(paths: Sequence[str]) -> str:
    rows = sorted({int(m.group(1)) for p in paths if (m := re.match(r"submissions/\d+/(\d+)\.json$", p))})
    named = ", ".join(f"#{i}" for i in rows[:10]) + (" ..." if len(rows) > 10 else "")
    return f"Leaderboard store: {len(paths)} file(s)" + (f"; rows {named}" if rows else "")


# -- the mirrored store ----------------------------------------------------------------------------------


def _events_after(store: SQLiteStore, last: int) -> builtins.list[Event]:
    """The store's events with an id above ``last``, oldest first."""
    limit = 64
    while True:
        batch = store.events(limit=limit)
        if len(batch) < limit or batch[-1].id <= last:
            return sorted((e for e in batch if e.id > last), key=lambda e: e.id)
        limit *= 4


def _existing_events(folder: Path, submission_id: int, kind: RowKind, model_name: str) -> builtins.list[Event]:
    path = folder / SUBMISSION.path(submission_id)
    if not path.exists():
        return []
    return [Event(int(e["id"]), submission_id, e["action"], Status(e["status"]), e["reason"],
                  datetime.fromisoformat(e["at"]), model_name, kind) for e in _read_json(path)["events"]]


def mirror_changes(store: SQLiteStore, mirror: Mirror, last: int) -> int:
    """Write the documents of every row with an event newer than ``last``; returns the newest event id mirrored."""
    new = _events_after(store, last)
    if not new:
        return last
    files: dict[str, bytes] = {}
    once: set[str] = set()
    for row_id in sorted({e.submission_id for e in new}):
        stored = store.get(row_id)
        name = stored.submission.metadata.model_name
        by_id = {e.id: e for e in _existing_events(mirror.folder, row_id, stored.kind, name)}
        by_id.update((e.id, e) for e in new if e.submission_id == row_id)
        row_files = submission_documents(stored, store.raw(row_id), list(by_id.values()))
        once |= set(row_files) - {SUBMISSION.path(row_id)}  # the uploaded files never change
        files |= row_files
        for version in store.robustness_history(row_id):
            docs = robustness_documents(version)
            once.add(ROBUSTNESS.path(version.id, ".file.json"))
            files |= docs
    mirror.write(files, once=once)
    return new[-1].id


class MirroredStore(SQLiteStore):
    """The SQLite store whose every write is mirrored to a :class:`Mirror` (see the module docstring)."""

    def __init__(self, path: str | Path, mirror: Mirror, *, mirrored_up_to: int) -> None:
        """Open the SQLite file at ``path``; events up to ``mirrored_up_to`` are already in ``mirror``."""
        super().__init__(path)
        self.mirror = mirror
        self.mirrored_up_to = mirrored_up_to
        """The newest event id written to the mirror."""
        self._sync_lock = threading.Lock()

    def _sync(self, requests: Iterable[int] = ()) -> None:
        with self._sync_lock:
            try:
                self.mirrored_up_to = mirror_changes(self, self.mirror, self.mirrored_up_to)
                for request_id in requests:
                    self.mirror.write(request_documents(self.get_request(request_id)))
            except (OSError, HubSyncError) as exc:  # committed in SQLite: the next write or start mirrors it
                LOG.error("could not write the store's documents to %s (%s); they are written with the next change "
                          "or on the next start", self.mirror.folder, exc)
                return
        self.mirror.schedule()

    def add(self, *args: Any, **kwargs: Any) -> StoredSubmission:
        """``SQLiteStore.add``, mirrored (with the request it answers, if any)."""
        stored = super().add(*args, **kwargs)
        self._sync([kwargs["request_id"]] if kwargs.get("request_id") is not None else [])
        return stored

    def add_request(self, *args: Any, **kwargs: Any) -> EvaluationRequest:
        """``SQLiteStore.add_request``, mirrored."""
        request = super().add_request(*args, **kwargs)
        self._sync([request.id])
        return request

    def claim_request(self, *args: Any, **kwargs: Any) -> EvaluationRequest | None:
        """``SQLiteStore.claim_request``, mirrored."""
        request = super().claim_request(*args, **kwargs)
        if request is not None:
            self._sync([request.id])
        return request

    def fail_request(self, *args: Any, **kwargs: Any) -> EvaluationRequest:
        """``SQLiteStore.fail_request``, mirrored."""
        request = super().fail_request(*args, **kwargs)
        self._sync([request.id])
        return request

    def set_status(self, *args: Any, **kwargs: Any) -> StoredSubmission:
        """``SQLiteStore.set_status``, mirrored."""
        stored = super().set_status(*args, **kwargs)
        self._sync()
        return stored

    def add_robustness(self, *args: Any, **kwargs: Any) -> StoredRobustness:
        """``SQLiteStore.add_robustness``, mirrored."""
        stored = super().add_robustness(*args, **kwargs)
        self._sync()
        return stored

    def set_robustness_status(self, *args: Any, **kwargs: Any) -> StoredRobustness:
        """``SQLiteStore.set_robustness_status``, mirrored."""
        stored = super().set_robustness_status(*args, **kwargs)
        self._sync()
        return stored

    def close(self) -> None:
        """Push what is pending, then close the SQLite file."""
        self.mirror.close()
        super().close()


class Fingerprint(NamedTuple):
    """What must agree for a SQLite file to be a valid cache of the dataset: ids, every event, every request."""

    rows: tuple[int, ...]
    robustness: tuple[int, ...]
    events: tuple[tuple[int, int, str, str, str | None, str], ...]
    requests: tuple[tuple[int, str, str], ...]


def _stamp(request: EvaluationRequest) -> str:
    return "" if request.updated_at is None else _iso(request.updated_at)


def fingerprint(rows: Iterable[int], robustness: Iterable[int], events: Iterable[Event],
                requests: Iterable[EvaluationRequest]) -> Fingerprint:
    """The fingerprint of a store's or a snapshot's contents."""
    return Fingerprint(tuple(sorted(rows)), tuple(sorted(robustness)),
                       tuple(sorted((e.id, e.submission_id, e.action, e.status.value, e.reason, _iso(e.at))
                                    for e in events)),
                       tuple(sorted((q.id, q.status.value, _stamp(q)) for q in requests)))


def _store_fingerprint(store: SQLiteStore) -> Fingerprint:
    events = store.events(limit=1 << 62)
    # Every row has at least its "submitted" or "seeded" event: its rows are those its events name.
    return fingerprint({e.submission_id for e in events}, (r.id for r in store.list_robustness()), events,
                       store.list_requests(limit=1 << 62))


def _snapshot_fingerprint(snapshot: StoreSnapshot) -> Fingerprint:
    return fingerprint((s.id for s, _ in snapshot.submissions), (r.id for r in snapshot.robustness), snapshot.events,
                       snapshot.requests)


def mirror_requests(store: SQLiteStore, mirror: Mirror, known: Iterable[EvaluationRequest]) -> int:
    """Write the documents of the store's requests the mirror lacks or has older (requests log no events)."""
    stamps = {q.id: _stamp(q) for q in known}
    newer = [q for q in store.list_requests(limit=1 << 62) if q.id not in stamps or _stamp(q) > stamps[q.id]]
    for request in newer:
        mirror.write(request_documents(request))
    return len(newer)


def _set_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.replaced-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, f"{aside}{suffix}")
    return aside


def open_mirrored(db_path: str | Path, remote: Remote, *, folder: str | Path | None = None,
                  background: bool = True) -> MirroredStore:
    """Open the store at ``db_path`` as a cache of ``remote``'s documents (see the module docstring).

    Args:
        db_path: The SQLite file (the cache).
        remote: Where the documents are kept.
        folder: The local folder of documents; default: beside the SQLite file, ``<name>.hub``.
        background: Push on a worker thread (see :class:`Mirror`).

    Raises:
        HubSyncError: The dataset cannot be prepared or read, or holds an invalid or newer document.
    """
    db = Path(db_path)
    if str(db_path) == ":memory:":
        raise HubSyncError("MLLMU_HUB_DATASET needs a store file (MLLMU_DB), not ':memory:'")
    mirror = Mirror(Path(folder) if folder is not None else db.with_suffix(".hub"), remote, background=background)
    snapshot = mirror.start()
    newest = max((e.id for e in snapshot.events), default=0)
    with_cache = SQLiteStore(db)
    fresh = with_cache.fresh
    try:
        caught_up = mirror_changes(with_cache, mirror, newest)
        requests = mirror_requests(with_cache, mirror, snapshot.requests)
        if caught_up != newest or requests:
            LOG.warning("mirrored %d SQLite event(s) and %d request(s) that the dataset lacked (written before a "
                        "crash)", caught_up - newest, requests)
            snapshot = load(mirror.folder)
            newest = caught_up
        cached = _store_fingerprint(with_cache)
    finally:
        with_cache.close()
    rebuild = cached != _snapshot_fingerprint(snapshot)
    if rebuild and cached.events:
        aside = _set_aside(db)
        LOG.warning("%s differs from the %s; set aside as %s, rebuilt from the dataset", db, remote.describe(), aside)
    store = MirroredStore(db, mirror, mirrored_up_to=newest)
    # Seeding follows: reference and demo rows the dataset lacks are added (duplicates are skipped).
    store._fresh = fresh or rebuild  # noqa: SLF001 - the cache was created (or replaced) by this call
    if rebuild:
        store.restore(snapshot)
        LOG.info("rebuilt %s from the %s: %d row(s), %d robustness file(s), %d event(s)", db, remote.describe(),
                 len(snapshot.submissions), len(snapshot.robustness), len(snapshot.events))
    store.mirror.schedule()
    return store
