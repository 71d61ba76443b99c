"""Evaluation requests in the store and the service: validation, pinning, duplicates, atomic claims, failures."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from benchmark.requests import EvaluationRequest, RequestStatus
from leaderboard import requests
from leaderboard.errors import DuplicateRequest, RateLimited, RequestNotRunning
from leaderboard.service import Leaderboard, LeaderboardSettings
from leaderboard.sqlite_store import SQLiteStore
from leaderboard.store import Status
from leaderboard.views import TableQuery, table_json, table_view

ROOT = Path(__file__).resolve().parents[2]
REPO = "demo-org/demo-vanilla"
SHA = "0123456789abcdef0123456789abcdef01234567"
FIELDS = {"hub_repo": REPO, "revision": "main", "base_model": "demo-base", "method": "vanilla",
          "forget_ratio": "10", "protocol": "official", "requester": "alice"}


def hub_cache(folder: Path, repo: str, sha: str, model: Path) -> Path:
    """A Hugging Face cache folder holding ``model`` as ``repo`` at ``main`` = ``sha`` (as a download leaves it)."""
    cached = folder / f"models--{repo.replace('/', '--')}"
    (cached / "refs").mkdir(parents=True, exist_ok=True)
    (cached / "refs" / "main").write_text(sha)
    shutil.copytree(model, cached / "snapshots" / sha)
    return folder


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """The demo checkpoint demo-vanilla as a Hub model in an offline cache (HF_HUB_OFFLINE=1)."""
    from huggingface_hub import constants

    cache = hub_cache(tmp_path / "hf", REPO, SHA, ROOT / "demo" / "models" / "demo-vanilla")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def request(**changes: object) -> EvaluationRequest:
    fields = {**FIELDS, "revision": SHA, "forget_ratio": 10, "id": 0, **changes}
    return EvaluationRequest.model_validate(fields)


def test_a_request_is_pinned_to_the_commit_and_stored_pending(empty_board, offline_hub):
    outcome = requests.request_evaluation(empty_board, FIELDS)
    assert outcome.ok, outcome.message
    assert outcome.request is not None and outcome.request.revision == SHA  # "main" pinned to its commit
    assert outcome.message.startswith("Requested as E1: demo-org/demo-vanilla@0123456789ab")
    [stored] = empty_board.requests()
    assert (stored.status, stored.requester, stored.forget_ratio) == (RequestStatus.PENDING, "alice", 10)


def test_form_problems_are_all_named_in_plain_text_and_nothing_is_stored(empty_board, offline_hub):
    outcome = requests.request_evaluation(empty_board, {"hub_repo": "not a repo", "revision": "a b",
                                                        "forget_ratio": "7", "protocol": "lenient"})
    fields = [p.field for p in outcome.problems]
    assert fields == ["hub_repo", "revision", "base_model", "method", "requester", "forget_ratio", "protocol"]
    assert "not a Hub model id of the form 'owner/name'" in outcome.message
    assert "must be one of 5, 10, 15, got '7'" in outcome.message
    assert empty_board.requests() == []


def test_the_model_files_are_checked(empty_board, offline_hub, tmp_path):
    unknown = requests.request_evaluation(empty_board, {**FIELDS, "revision": "f" * 40})
    assert not unknown.ok and "is not in this server's Hugging Face cache" in unknown.message
    pickles = tmp_path / "pickles"
    shutil.copytree(ROOT / "demo" / "models" / "demo-vanilla", pickles)
    (pickles / "model.safetensors").rename(pickles / "pytorch_model.bin")
    hub_cache(offline_hub, "demo-org/pickles", "1" * 40, pickles)
    refused = requests.request_evaluation(empty_board, {**FIELDS, "hub_repo": "demo-org/pickles"})
    assert not refused.ok and "has no *.safetensors weights (it has only pytorch_model.bin" in refused.message
    remote = tmp_path / "remote"
    shutil.copytree(ROOT / "demo" / "models" / "demo-vanilla", remote)
    config = json.loads((remote / "config.json").read_text())
    (remote / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "mine.Model"}}))
    hub_cache(offline_hub, "demo-org/remote", "2" * 40, remote)
    refused = requests.request_evaluation(empty_board, {**FIELDS, "hub_repo": "demo-org/remote"})
    assert not refused.ok and "config.json of demo-org/remote@main has an auto_map" in refused.message
    assert empty_board.requests() == []


def test_duplicates_are_refused_until_a_request_fails(empty_board, offline_hub):
    assert requests.request_evaluation(empty_board, FIELDS).ok
    again = requests.request_evaluation(empty_board, {**FIELDS, "requester": "bob"})
    assert not again.ok and "already requested as E1 (pending: it waits for a worker)" in again.message
    assert requests.request_evaluation(empty_board, {**FIELDS, "forget_ratio": "5"}).ok  # another ratio
    claimed = empty_board.claim_request("w1")
    assert claimed is not None and claimed.id == 1
    assert requests.fail(empty_board, "E1", "CUDA out of memory")[0]
    assert requests.request_evaluation(empty_board, FIELDS).ok  # a failed one may be asked again


def test_the_rate_limit_counts_requests_per_requester(tmp_path, offline_hub):
    settings = LeaderboardSettings(db_path=tmp_path / "rl.sqlite", seed_references=False, seed_demo=False,
                                   rate_limit_count=1)
    with Leaderboard.open(settings) as board:
        assert requests.request_evaluation(board, FIELDS).ok
        limited = requests.request_evaluation(board, {**FIELDS, "forget_ratio": "5", "requester": " ALICE "})
        assert not limited.ok and "already made 1 evaluation request(s) in the last 24 h" in limited.message
        assert requests.request_evaluation(board, {**FIELDS, "forget_ratio": "5", "requester": "bob"}).ok
        with pytest.raises(RateLimited):
            board.add_request(request(forget_ratio=15))
        with pytest.raises(DuplicateRequest):
            board.add_request(request(requester="carol"))


def test_two_workers_never_claim_the_same_request(tmp_path):
    path = tmp_path / "queue.sqlite"
    board = Leaderboard.open(LeaderboardSettings(db_path=path, seed_references=False, seed_demo=False,
                                                 rate_limit_count=0))
    for ratio in (5, 10, 15):
        for protocol in ("official", "strict"):
            for n in range(5):
                board.add_request(request(revision=f"{n:040x}", forget_ratio=ratio, protocol=protocol))
    # Two connections to one file, as two worker processes behind two app processes would be.
    stores = [SQLiteStore(path), SQLiteStore(path)]
    claimed: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def work(i: int) -> None:
        start.wait()
        while (got := stores[i].claim_request(f"w{i}", now=board._clock())) is not None:  # noqa: SLF001
            claimed[i].append(got.id)

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = claimed[0] + claimed[1]
    assert sorted(every) == list(range(1, 31)) and len(set(every)) == 30  # each exactly once
    assert all(r.status is RequestStatus.RUNNING and r.worker in ("w0", "w1") for r in board.requests())
    assert board.claim_request("w2") is None
    for store in stores:
        store.close()
    board.close()


def test_a_failure_is_recorded_with_its_error_and_only_on_a_running_request(empty_board):
    empty_board.add_request(request())
    assert requests.fail(empty_board, "E1", "boom") == (False, "Not recorded: E1 is pending, not running; only a "
                                                               "claimed request takes a result or an error")
    empty_board.claim_request("w")
    ok, message = requests.fail(empty_board, "E1", "x" * 5000 + "\nTraceback: CUDA out of memory")
    assert ok and message == "E1 failed; the error is shown in the request list."
    [failed] = empty_board.requests()
    assert failed.status is RequestStatus.FAILED and failed.error is not None
    assert failed.error.endswith("CUDA out of memory") and len(failed.error) == requests.MAX_ERROR_CHARS
    with pytest.raises(RequestNotRunning):
        empty_board.fail_request(1, "again")
    assert requests.fail(empty_board, "E9", "x")[1] == ("Not recorded: no evaluation request E9; the requests are "
                                                        "listed in the Requests tab")


def result_file(*, repo: str = REPO, sha: str = SHA, ratio: int = 10) -> bytes:
    data = json.loads((ROOT / "demo" / "results" / "demo-vanilla.submission.json").read_text())
    data["metadata"].update(model_name=repo, hub_repo=repo, hub_revision=sha, forget_ratio=ratio)
    return json.dumps(data).encode()


def test_a_result_becomes_a_row_marked_evaluated_by_the_board(empty_board):
    empty_board.add_request(request())
    refused = requests.complete(empty_board, "E1", result_file())
    assert refused == (False, "Not accepted: E1 is pending, not running; only a claimed request takes a result or "
                              "an error", None)
    empty_board.claim_request("w")
    wrong = requests.complete(empty_board, "E1", result_file(sha="f" * 40, ratio=5))
    assert not wrong[0] and "metadata.hub_revision: is 'ffff" in wrong[1] and "metadata.forget_ratio: is 5" in wrong[1]
    ok, message, row = requests.complete(empty_board, "E1", result_file())
    assert ok and row is not None and message == f"E1 done: row #{row} is on the board, evaluated by the board."
    [done] = empty_board.requests()
    assert (done.status, done.submission_id) == (RequestStatus.DONE, row)
    assert empty_board.get(row).status.value == "approved"
    rows = table_json(empty_board, TableQuery())["rows"]
    assert [(r["model_name"], r["evaluated_by_board"]) for r in rows] == [(REPO, True)]
    view = table_view(empty_board, TableQuery())
    assert "evaluated by the board" in view.display["Model"].iloc[0]
    assert len(table_view(empty_board, TableQuery(evaluated="self")).table.frame) == 0
    assert len(table_view(empty_board, TableQuery(evaluated="board")).table.frame) == 1
    assert requests.complete(empty_board, "E1", result_file())[1].startswith("Not accepted: E1 is done")


def test_self_reported_rows_are_not_marked(empty_board):
    empty_board.submit(result_file(), status=Status.APPROVED)
    [row] = table_json(empty_board, TableQuery())["rows"]
    assert row["evaluated_by_board"] is False
    assert "evaluated by the board" not in table_view(empty_board, TableQuery()).display["Model"].iloc[0]
    assert TableQuery.from_params({"evaluated": "self"}).evaluated == "self"
    assert TableQuery.from_params({"evaluated": "nonsense"}).evaluated == "all"


def test_online_the_hub_listing_is_checked_and_network_errors_are_plain(monkeypatch, tmp_path):
    import httpx
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.hf_api import ModelInfo

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_type": "llava"}))
    listing = {"id": REPO, "sha": SHA, "siblings": [{"rfilename": "config.json"}, {"rfilename": "model.safetensors"}]}
    monkeypatch.setattr(huggingface_hub, "model_info", lambda repo, revision=None: ModelInfo(**listing))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, name, revision=None: str(config))
    assert requests.check_hub_model(REPO, "main") == SHA
    listing["siblings"] = [{"rfilename": "pytorch_model.bin"}]
    with pytest.raises(requests.HubModelProblem, match="no \\*.safetensors weights \\(it has only pytorch_model.bin"):
        requests.check_hub_model(REPO, "main")

    def offline(repo, revision=None):
        raise httpx.ConnectError("no route to host")

    monkeypatch.setattr(huggingface_hub, "model_info", offline)
    with pytest.raises(requests.HubModelProblem, match="could not reach the Hub to check .* \\(ConnectError\\)"):
        requests.check_hub_model(REPO, "main")


def test_a_request_whose_worker_vanished_is_claimed_again_after_the_lease(tmp_path):
    from datetime import UTC, datetime, timedelta

    from leaderboard.sqlite_store import CLAIM_LEASE

    store = SQLiteStore(tmp_path / "lease.sqlite")
    start = datetime(2026, 12, 3, 12, tzinfo=UTC)
    store.add_request(request(), now=start)
    first = store.claim_request("killed-worker", now=start)
    assert first is not None and first.worker == "killed-worker"
    assert store.claim_request("w2", now=start + CLAIM_LEASE - timedelta(minutes=1)) is None  # still its
    again = store.claim_request("w2", now=start + CLAIM_LEASE + timedelta(minutes=1))
    assert again is not None and again.id == first.id and again.worker == "w2"
    assert store.claim_request("w3", now=start + CLAIM_LEASE + timedelta(minutes=2)) is None  # w2 holds it now
