"""Evaluation requests end to end on the demo: the form, the API, a worker run, the row on the board.

The app runs on 127.0.0.1 with a temp store; the demo checkpoint demo/models/demo-vanilla is a Hub model in a
hand-made Hugging Face cache (HF_HUB_OFFLINE=1), so the request's checks and the worker's evaluation read it
from there as they would from the Hub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import TOKEN

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
REPO = "demo-org/demo-vanilla"
SHA = "0123456789abcdef0123456789abcdef01234567"
BROKEN = "demo-org/broken"
BROKEN_SHA = "b" * 40


def hub_cache(folder: Path, repo: str, sha: str, model: Path) -> None:
    """Put ``model`` in the cache ``folder`` as ``repo`` at ``main`` = ``sha`` (the layout a download leaves)."""
    cached = folder / f"models--{repo.replace('/', '--')}"
    (cached / "refs").mkdir(parents=True, exist_ok=True)
    (cached / "refs" / "main").write_text(sha)
    shutil.copytree(model, cached / "snapshots" / sha)


@pytest.fixture(scope="module")
def served(tmp_path_factory, forget_ids):
    """The app on a free port with a temp store, and an offline Hub cache holding demo-vanilla and a broken copy."""
    from fakes import fake_registry
    from huggingface_hub import constants

    import app as appmod
    from leaderboard.service import Leaderboard, LeaderboardSettings
    from probes.models import ModelPool
    from probes.service import ProbeService
    from settings import AppSettings

    folder = tmp_path_factory.mktemp("requests")
    cache = folder / "hf"
    hub_cache(cache, REPO, SHA, ROOT / "demo" / "models" / "demo-vanilla")
    broken = folder / "broken"
    shutil.copytree(ROOT / "demo" / "models" / "demo-vanilla", broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    hub_cache(cache, BROKEN, BROKEN_SHA, broken)
    patch = pytest.MonkeyPatch()
    patch.setenv("HF_HUB_CACHE", str(cache))
    patch.setenv("HF_HUB_OFFLINE", "1")
    patch.setattr(constants, "HF_HUB_CACHE", str(cache))
    patch.setattr(constants, "HF_HUB_OFFLINE", True)
    for name in ("SPACE_ID", "OAUTH_CLIENT_ID"):
        patch.delenv(name, raising=False)
    settings = AppSettings(db=folder / "lb.sqlite", admin_token=TOKEN, port=free_port())
    board = Leaderboard.open(LeaderboardSettings(db_path=settings.db))
    probe = ProbeService(ModelPool(registry=fake_registry(forget_ids)), max_new_tokens=5, time_limit_s=5)
    blocks = appmod.build_app(settings, appmod.Services(board, probe))
    _, url, _ = blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=settings.port,
                              quiet=True)
    try:
        yield {"url": url, "board": board, "blocks": blocks, "cache": cache, "out": folder / "worker"}
    finally:
        blocks.close()
        board.close()
        patch.undo()


@pytest.fixture(scope="module")
def api(served):
    from gradio_client import Client

    return Client(served["url"], verbose=False)


def ask(api, **changes):
    fields = {"hub_repo": REPO, "revision": "main", "base_model": "demo-base", "method": "vanilla",
              "forget_ratio": "10", "protocol": "official", "requester": "alice", **changes}
    return api.predict(**fields, api_name="/request_evaluation")


def worker(served, *extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "HF_HUB_CACHE": str(served["cache"]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "probes.worker", "--board", served["url"], "--token", TOKEN, "--once",
           "--out", str(served["out"]), "--data", "demo", "--limit", "2", "--gpus", "0", *extra]
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return done, time.monotonic() - start


def test_form_problems_come_back_in_plain_text(served, api):
    bad = ask(api, hub_repo="not a repo", forget_ratio="7", method="", protocol="lenient")
    assert bad["ok"] is False and bad["id"] is None
    assert [p["field"] for p in bad["problems"]] == ["hub_repo", "method", "forget_ratio", "protocol"]
    assert bad["message"].startswith("Not accepted: 4 problem(s); nothing was stored.\n- hub_repo: 'not a repo' is "
                                     "not a Hub model id of the form 'owner/name'")
    missing = ask(api, hub_repo="demo-org/not-cached")
    assert missing["ok"] is False and missing["message"] == (
        "Not accepted: demo-org/not-cached@main is not in this server's Hugging Face cache and the Hub is off "
        "(HF_HUB_OFFLINE=1)")
    # The form shows the same message as Markdown, with what the user typed made inert.
    blocks = served["blocks"]
    button = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "req-submit")
    fn = next(f for f in blocks.fns.values() if any(t[0] == button._id for t in f.targets))
    message, frame = fn.fn("<b>x</b>/y", "main", "demo-base", "vanilla", "10", "official", "alice")
    assert "&lt;b&gt;x&lt;/b&gt;/y" in message and "<b>" not in message
    assert message.split("\n")[1].startswith("- hub\\_repo: ")  # each problem on its own list line
    assert list(frame.columns)[:2] == ["Request", "Status"]
    assert served["board"].requests() == []
    wrong = api.predict(token="guess", worker="w", api_name="/claim_request")
    assert wrong["ok"] is False and wrong["message"] == "wrong admin token"


def test_request_then_worker_then_row_on_the_board_with_the_badge(served, api):
    asked = ask(api)
    assert asked["ok"] is True and asked["id"] == "E1" and asked["revision"] == SHA, asked
    again = ask(api, requester="bob")
    assert again["ok"] is False and "already requested as E1 (pending" in again["message"]

    done, seconds = worker(served)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"worker on the demo (--limit 2, CPU, 1 thread): {seconds:.1f} s")
    assert "E1: evaluated in" in done.stdout and "row #" in done.stdout

    listed = api.predict(api_name="/requests")["requests"]
    assert [(r["id"], r["status"], r["error"]) for r in listed] == [(1, "done", None)]
    row_id = listed[0]["submission_id"]
    rows = api.predict(kinds="submission", evaluated="board", api_name="/leaderboard")["rows"]
    assert [(r["id"], r["model_name"], r["evaluated_by_board"]) for r in rows] == [(row_id, REPO, True)]
    assert api.predict(kinds="submission", evaluated="self", api_name="/leaderboard")["rows"] == []
    stored = served["board"].get(row_id)
    assert stored.status.value == "approved" and stored.submission.metadata.hub_revision == SHA
    assert stored.submission.metadata.submitter == "alice" and stored.submission.metadata.method == "vanilla"

    from leaderboard.views import TableQuery, table_view

    view = table_view(served["board"], TableQuery())
    assert "✅ *evaluated by the board*" in view.display["Model"].iloc[view.ids.index(row_id)]
    assert ask(api, requester="carol")["message"].startswith("Not accepted: duplicate: demo-org/demo-vanilla@")
    idle, _ = worker(served, "--token", "guess")
    assert idle.returncode == 2 and "wrong admin token" in idle.stderr


@pytest.mark.slow  # ~13 s; the fast test below covers the worker's failure report with a fake board
def test_a_model_that_cannot_load_fails_with_its_error_on_the_request(served, api):
    # It passes the request's checks (safetensors, no remote code) but its weights are not a safetensors file.
    asked = ask(api, hub_repo=BROKEN)
    assert asked["ok"] is True
    failed, _ = worker(served)
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    latest = next(r for r in api.predict(api_name="/requests")["requests"] if r["hub_repo"] == BROKEN)
    assert latest["status"] == "failed" and latest["submission_id"] is None
    assert latest["error"].startswith("probes.evaluate failed (exit status 2)")  # a clear error, not a crash
    error = latest["error"]
    assert "weights" in error and "cannot be read" in error and "download it again" in error
    assert "Traceback" not in error
    assert ask(api, hub_repo=BROKEN)["ok"] is True  # a failed request may be asked again


class FakeBoard:
    """The worker's side of the board, recording what the worker sends."""

    def __init__(self, request):
        self.queue = [request]
        self.sent: list[tuple[str, object]] = []

    def claim(self, worker):
        return self.queue.pop() if self.queue else None

    def complete(self, request, files):
        self.sent.append(("complete", sorted(files)))
        return True, "stored"

    def fail(self, request, error):
        self.sent.append(("fail", error))
        return True, "recorded"


def test_the_worker_reports_a_failed_evaluation_with_the_end_of_its_log(tmp_path, monkeypatch):
    import argparse

    from benchmark.requests import EvaluationRequest
    from probes import worker as worker_module

    request = EvaluationRequest(id=7, hub_repo=REPO, revision=SHA, base_model="b", method="GA", forget_ratio=5,
                                protocol="official", requester="alice")
    script = "import sys; print('loading'); print('x' * 10); sys.exit('CUDA out of memory')"
    monkeypatch.setattr(worker_module, "evaluate_command", lambda *a, **k: [sys.executable, "-c", script])
    args = argparse.Namespace(name="w", out=tmp_path, data="demo", limit=None, batch_size=None, quantize=None)
    board = FakeBoard(request)
    lines: list[str] = []
    assert worker_module.work_one(board, args, 0, echo=lines.append) is False
    [(action, error)] = board.sent
    assert action == "fail"
    assert error == "probes.evaluate failed (exit status 1):\nloading\nxxxxxxxxxx\nCUDA out of memory"
    assert lines[0] == "E7: demo-org/demo-vanilla@0123456789ab forget 5 % official, for alice"
    assert worker_module.work_one(board, args, 0, echo=lines.append) is None  # nothing pending


def test_the_worker_command_uses_accelerate_across_gpus():
    from benchmark.requests import EvaluationRequest
    from probes.worker import evaluate_command

    request = EvaluationRequest(id=3, hub_repo=REPO, revision=SHA, base_model="b", method="GA", forget_ratio=5,
                                protocol="strict", requester="hf:alice")
    one = evaluate_command(request, Path("out"), gpus=1, data="demo")
    assert one[:3] == [sys.executable, "-m", "probes.evaluate"] and one[one.index("--revision") + 1] == SHA
    eight = evaluate_command(request, Path("out"), gpus=8, data="demo", limit=4)
    assert eight[1:4] == ["launch", "--num_processes", "8"] and eight[eight.index("--limit") + 1] == "4"
    assert json.loads(request.model_dump_json())["protocol"] == "strict"
