"""Hub-dataset persistence, offline: a local folder stands in for the dataset (same Remote interface as the Hub).

Covers: every change pushed as documents; a restart on an empty disk rebuilding the same board from the
dataset alone; a failed push (a crash before the push) losing nothing and pushed on the next start; SQLite
writes that never reached the documents mirrored on start; a foreign cache set aside; a newer dataset refused;
the Hub remote's commits (through a fake ``HfApi``); without the setting, nothing changes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmark.requests import EvaluationRequest, RequestStatus
from benchmark.vocabulary import Protocol
from leaderboard import hub_sync, requests
from leaderboard.hub_sync import FolderRemote, HubRemote, HubSyncError, MirroredStore, open_mirrored, remote_for
from leaderboard.references import REFERENCES
from leaderboard.service import DEMO_RESULTS, Leaderboard, LeaderboardSettings
from leaderboard.sqlite_store import SQLiteStore
from leaderboard.store import RobustnessStatus, RowKind, Status
from leaderboard.views import TableQuery, table_json

from ..conftest import make_submission

GA_RESULTS = DEMO_RESULTS / "demo-ga.submission.json"
GA_ROBUSTNESS = DEMO_RESULTS / "demo-ga.robustness.json"
SETTINGS = {"rate_limit_count": 0}


class Disk:
    """One machine's disk: its SQLite file and its local folder of documents (a restart may wipe both)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "lb.sqlite"
        self.cache = root / "lb.hub"


def open_board(disk: Disk, remote: hub_sync.Remote, **settings: Any) -> Leaderboard:
    store = open_mirrored(disk.db, remote, folder=disk.cache, background=False)
    return Leaderboard(store, LeaderboardSettings(db_path=disk.db, **{**SETTINGS, **settings}))


def observed(board: Leaderboard) -> dict[str, Any]:
    """Everything a reader or a moderator can see: both boards (API), rows, files, robustness versions, events."""
    store = board.store
    return {
        "real": table_json(board, TableQuery(), limit=1000),
        "demo": table_json(board, TableQuery(board="demo"), limit=1000),
        "strict": table_json(board, TableQuery(protocol=Protocol.STRICT), limit=1000),
        "rows": [(r.id, r.kind, r.status, r.status_reason, r.created_at, r.updated_at, r.content_hash, r.warnings,
                  r.submission, store.raw(r.id)) for r in board.submissions()],
        "robustness": [(r.id, r.submission_id, r.status, r.status_reason, r.with_submission, r.raw, r.filename,
                        r.created_at, r.updated_at) for r in store.list_robustness()],
        "events": store.events(limit=10_000),
        "requests": store.list_requests(limit=10_000),
        "changelog": board.changelog(),
        "version": board.version,
    }


def documents(folder: Path) -> dict[str, Any]:
    """The row documents of a dataset folder, by id."""
    return {doc["id"]: doc for doc in (json.loads(p.read_text()) for p in sorted(folder.glob("submissions/*/*.json"))
                                       if p.name.count(".") == 1)}


def renamed(path: Path, name: str) -> bytes:
    """A demo file for another model (its first cell moved, so that it is no duplicate of the demo row)."""
    doc = json.loads(path.read_text())
    doc["metadata"]["model_name"] = name
    if "cells" in doc:
        doc["cells"][0]["value"] += 0.5
    return json.dumps(doc).encode()


def my_results() -> bytes:
    """The results uploaded in the tests (the demo rows are seeded in some)."""
    return renamed(GA_RESULTS, "my-ga")


def history(board: Leaderboard) -> None:
    """Submit, moderate and add robustness files: every kind of store write."""
    first = board.submit(my_results(), filename="ga.json", robustness=renamed(GA_ROBUSTNESS, "my-ga"),
                         robustness_filename="ga.robustness.json", metadata={"submitter": "alice"})
    board.approve(first.id, reason="looks right")
    second = board.submit(make_submission(model_name="mine-2").model_dump_json().encode(), filename="two.json")
    board.reject(second.id, reason="wrong <b>split</b>")
    third = board.submit(make_submission(model_name="mine-3").model_dump_json().encode())
    board.approve(third.id)
    board.withdraw(third.id, reason="asked by its submitter")
    newer = json.loads(renamed(GA_ROBUSTNESS, "my-ga"))
    newer["attacks"][0]["changed"] = 1
    added = board.attach_robustness(first.id, json.dumps(newer).encode(), filename="newer.json")
    board.approve_robustness(added.id, reason="rerun")


class FailingRemote(FolderRemote):
    """A folder whose pushes fail (the network is down, or the process dies before pushing)."""

    def push(self, folder: Path, paths: Any, message: str) -> None:
        raise ConnectionError("the Hub cannot be reached")


def test_every_change_is_pushed_and_a_restart_from_the_dataset_alone_rebuilds_the_same_board(tmp_path):
    remote = FolderRemote(tmp_path / "dataset")
    first = Disk(tmp_path / "first")
    with open_board(first, remote) as board:
        history(board)
        assert isinstance(board.store, MirroredStore) and board.store.mirror.pending == {}
        before = observed(board)
    docs = documents(remote.root)
    rows = {r[0]: r for r in before["rows"]}
    assert set(docs) == set(rows)  # every row, references and demo rows included
    mine = next(d for d in docs.values() if d["submission"]["metadata"]["model_name"] == "my-ga")
    assert mine["format"] == "mllmu-arena/submission" and mine["version"] == 1
    assert mine["status"] == "approved" and mine["status_reason"] == "looks right" and mine["filename"] == "ga.json"
    assert [e["action"] for e in mine["events"]] == ["submitted", "approved", "robustness added",
                                                     "robustness approved"]
    assert (remote.root / mine["files"]["results"]["path"]).read_bytes() == my_results()  # verbatim
    versions = [json.loads(p.read_text()) for p in sorted(remote.root.glob("robustness/*/*.json"))
                if p.name.count(".") == 1 and json.loads(p.read_text())["submission_id"] == mine["id"]]
    assert [v["status"] for v in versions] == ["superseded", "approved"]
    assert json.loads((remote.root / "dataset.json").read_text())["kinds"]["submission"]["version"] == 1

    fresh = Disk(tmp_path / "after-restart")  # a Space restarted without persistent storage: only the dataset
    with open_board(fresh, remote) as board:
        after = observed(board)
        assert after == before
        assert len([r for r in board.submissions() if r.kind is RowKind.REFERENCE]) == len(REFERENCES)
        assert board.store.mirror.pending == {}
        new = board.submit(make_submission(model_name="after").model_dump_json().encode())
        assert new.id == max(rows) + 1  # ids continue after the restored ones
    assert documents(remote.root)[new.id]["status"] == "pending"


def test_a_failed_push_loses_nothing_and_is_pushed_on_the_next_start(tmp_path, caplog):
    dataset = tmp_path / "dataset"
    disk = Disk(tmp_path / "disk")
    board = open_board(disk, FailingRemote(dataset), seed_demo=False, seed_references=False)
    stored = board.submit(my_results(), filename="ga.json", metadata={"submitter": "bob"})
    board.approve(stored.id)
    assert "could not push" in caplog.text and "stay pending" in caplog.text
    pending = set(board.store.mirror.pending)
    assert hub_sync.SUBMISSION.path(stored.id) in pending
    assert not (dataset / hub_sync.SUBMISSION.path(stored.id)).exists()
    before = observed(board)
    SQLiteStore.close(board.store)  # the process dies: no final push

    with open_board(disk, FolderRemote(dataset), seed_demo=False, seed_references=False) as again:  # next start
        assert again.store.mirror.pending == {}
        assert observed(again) == before
    assert documents(dataset)[stored.id]["status"] == "approved"
    with open_board(Disk(tmp_path / "wiped"), FolderRemote(dataset), seed_demo=False, seed_references=False) as new:
        assert observed(new) == before


def test_sqlite_writes_that_never_reached_the_documents_are_mirrored_on_start(tmp_path):
    remote = FolderRemote(tmp_path / "dataset")
    disk = Disk(tmp_path / "disk")
    with open_board(disk, remote, seed_demo=False):
        pass
    with Leaderboard.open(LeaderboardSettings(db_path=disk.db, seed_demo=False)) as plain:  # a crash before mirroring
        lost = plain.submit(my_results(), status=Status.APPROVED)
        before = observed(plain)
    assert lost.id not in documents(remote.root)
    with open_board(disk, remote, seed_demo=False) as board:
        assert observed(board) == before
    assert documents(remote.root)[lost.id]["status"] == "approved"


def test_a_cache_from_another_history_is_set_aside_and_the_board_rebuilt_from_the_dataset(tmp_path, caplog):
    remote = FolderRemote(tmp_path / "dataset")
    with open_board(Disk(tmp_path / "a"), remote, seed_demo=False) as board:
        board.submit(my_results(), status=Status.APPROVED)
        before = observed(board)
    other = Disk(tmp_path / "b")
    with Leaderboard.open(LeaderboardSettings(db_path=other.db, seed_demo=False, seed_references=False)) as plain:
        plain.submit(make_submission(model_name="elsewhere").model_dump_json().encode())
    shutil.copytree(tmp_path / "a" / "lb.hub", other.cache)  # the documents, but a different SQLite history
    with open_board(other, remote, seed_demo=False) as board:
        assert observed(board) == before
    aside = list(other.root.glob("lb.sqlite.replaced-*"))
    assert len(aside) == 1 and "set aside" in caplog.text
    with Leaderboard(SQLiteStore(aside[0]), LeaderboardSettings(seed_demo=False, seed_references=False)) as kept:
        assert [r.submission.metadata.model_name for r in kept.submissions()] == ["elsewhere"]  # nothing deleted


def test_a_dataset_written_by_a_newer_app_or_tampered_with_is_refused(tmp_path):
    remote = FolderRemote(tmp_path / "dataset")
    with open_board(Disk(tmp_path / "a"), remote, seed_demo=False):
        pass
    manifest = remote.root / "dataset.json"
    saved = manifest.read_text()
    newer = json.loads(saved)
    newer["kinds"]["comment"] = {"folder": "comments", "version": 1}  # a table this code does not know
    newer["kinds"]["submission"]["version"] = 2
    manifest.write_text(json.dumps(newer))
    with pytest.raises(HubSyncError, match="cannot read \\(comment, submission\\).*newer mllmu-arena; upgrade"):
        open_board(Disk(tmp_path / "b"), remote)
    manifest.write_text(saved)
    results = next(remote.root.glob("submissions/*/*.results.json"))
    results.write_bytes(results.read_bytes() + b" ")
    with pytest.raises(HubSyncError, match=f"{results.name}: content differs from the SHA-256"):
        open_board(Disk(tmp_path / "c"), remote)


class FakeHfApi:
    """The three ``HfApi`` calls the Hub remote makes, on a folder: what a commit sends is kept for inspection."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.commits: list[tuple[str, list[str]]] = []
        self.created: list[dict[str, Any]] = []

    def create_repo(self, repo_id: str, **kwargs: Any) -> None:
        self.created.append({"repo_id": repo_id, **kwargs})
        self.root.mkdir(parents=True, exist_ok=True)

    def create_commit(self, repo_id: str, operations: list[Any], *, commit_message: str, repo_type: str) -> None:
        assert repo_type == "dataset"
        for op in operations:
            target = self.root / op.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(Path(op.path_or_fileobj).read_bytes())
        self.commits.append((commit_message, [op.path_in_repo for op in operations]))

    def snapshot_download(self, repo_id: str, *, repo_type: str, local_dir: Path, ignore_patterns: list[str]) -> str:
        FolderRemote(self.root).pull(Path(local_dir), keep=set(ignore_patterns))
        return str(local_dir)


def test_the_hub_remote_commits_each_change_and_rebuilds_from_a_snapshot(tmp_path):
    api = FakeHfApi(tmp_path / "hub")
    remote = HubRemote("someone/board-store", "hf_token", api=api)  # type: ignore[arg-type]
    with open_board(Disk(tmp_path / "a"), remote, seed_demo=False) as board:
        stored = board.submit(my_results())
        board.approve(stored.id)
        before = observed(board)
    assert api.created == [{"repo_id": "someone/board-store", "repo_type": "dataset", "private": True,
                            "exist_ok": True}]
    message, paths = api.commits[-1]
    assert paths == [hub_sync.SUBMISSION.path(stored.id)] and message.endswith(f"rows #{stored.id}")
    with open_board(Disk(tmp_path / "b"), remote, seed_demo=False) as board:
        assert observed(board) == before


def test_background_pushes_are_flushed_on_close(tmp_path):
    remote = FolderRemote(tmp_path / "dataset")
    disk = Disk(tmp_path / "disk")
    store = open_mirrored(disk.db, remote, folder=disk.cache)
    with Leaderboard(store, LeaderboardSettings(db_path=disk.db, seed_demo=False, **SETTINGS)) as board:
        stored = board.submit(my_results())
        board.reject(stored.id, reason="no")
    assert store.mirror.pending == {}
    assert documents(remote.root)[stored.id]["status"] == "rejected"


def test_the_setting_names_a_dataset_or_a_folder_and_a_dataset_needs_a_token(tmp_path, monkeypatch):
    assert isinstance(remote_for(str(tmp_path / "x"), None), FolderRemote)
    assert isinstance(remote_for("owner/name", "hf_x"), HubRemote)
    with pytest.raises(HubSyncError, match="HF_TOKEN is not: add HF_TOKEN as a Space secret"):
        remote_for("owner/name", None)
    with pytest.raises(HubSyncError, match="neither a dataset id"):
        remote_for("not a repo", "hf_x")
    monkeypatch.setenv("MLLMU_HUB_DATASET", "owner/name")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(HubSyncError, match="HF_TOKEN"):
        Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "lb.sqlite"))
    assert not (tmp_path / "lb.sqlite").exists()  # refused before anything is created
    monkeypatch.setenv("MLLMU_HUB_DATASET", str(tmp_path / "dataset"))
    with Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "lb.sqlite", seed_demo=False)) as board:
        assert isinstance(board.store, MirroredStore)
    assert len(documents(tmp_path / "dataset")) == len(REFERENCES)


def test_without_the_setting_nothing_changes(tmp_path, monkeypatch):
    monkeypatch.delenv("MLLMU_HUB_DATASET", raising=False)
    with Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "lb.sqlite", seed_demo=False)) as board:
        assert type(board.store) is SQLiteStore
        board.submit(my_results())
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("lb.sqlite")) == []


def test_robustness_status_changes_alone_are_mirrored(tmp_path):
    remote = FolderRemote(tmp_path / "dataset")
    with open_board(Disk(tmp_path / "a"), remote, seed_demo=False, seed_references=False) as board:
        row = board.submit(my_results(), status=Status.APPROVED)
        added = board.attach_robustness(row.id, renamed(GA_ROBUSTNESS, "my-ga"))
        board.reject_robustness(added.id, reason="not rerun")
    doc = json.loads((remote.root / hub_sync.ROBUSTNESS.path(added.id)).read_text())
    assert (doc["status"], doc["status_reason"]) == (RobustnessStatus.REJECTED.value, "not rerun")



SHA = "0123456789abcdef0123456789abcdef01234567"


def evaluation_request(repo: str) -> EvaluationRequest:
    return EvaluationRequest(id=0, hub_repo=repo, revision=SHA, base_model="demo-base", method="vanilla",
                             forget_ratio=10, protocol=Protocol.OFFICIAL, requester="carol")


def board_result(repo: str) -> bytes:
    data = json.loads((DEMO_RESULTS / "demo-vanilla.submission.json").read_text())
    data["metadata"].update(model_name=repo, hub_repo=repo, hub_revision=SHA)
    return json.dumps(data).encode()


def test_evaluation_requests_and_the_rows_they_became_survive_a_restart(tmp_path):
    remote = FolderRemote(tmp_path / "dataset")
    disk = Disk(tmp_path / "a")
    with open_board(disk, remote, seed_demo=False) as board:
        for repo in ("org/done", "org/failed", "org/waiting", "org/running"):
            board.add_request(evaluation_request(repo))
        board.claim_request("gpu-1")
        ok, _, row = requests.complete(board, "E1", board_result("org/done"))
        assert ok and row is not None
        board.claim_request("gpu-1")
        board.fail_request(2, "CUDA out of memory")
        board.claim_request("gpu-2")  # E3 is running when the disk is wiped
        before = observed(board)
    assert [r["evaluated_by_board"] for r in before["real"]["rows"] if r["model_name"] == "org/done"] == [True]
    assert json.loads((remote.root / hub_sync.REQUEST.path(1)).read_text())["submission_id"] == row
    with open_board(Disk(tmp_path / "b"), remote, seed_demo=False) as board:
        assert observed(board) == before
        assert [q.status for q in board.requests()] == [RequestStatus.PENDING, RequestStatus.RUNNING,
                                                        RequestStatus.FAILED, RequestStatus.DONE]
    with Leaderboard.open(LeaderboardSettings(db_path=disk.db, seed_demo=False)) as plain:  # not mirrored: a crash
        plain.claim_request("gpu-3")
        before = observed(plain)
    with open_board(disk, remote, seed_demo=False) as board:
        assert observed(board) == before
    assert json.loads((remote.root / hub_sync.REQUEST.path(4)).read_text())["worker"] == "gpu-3"
