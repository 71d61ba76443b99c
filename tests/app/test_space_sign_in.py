"""Submitting on a Space with OAuth: a Hugging Face sign-in is needed, the row records the account (issue 17).

The signed-in profile is injected into the handlers as Gradio would (``gr.OAuthProfile``); a live server checks
that an API call without a signed-in session is refused unless it carries the admin token.

gradio.oauth reads the OAuth variables when it is first imported: this file runs after test_space.py and
imports it lazily, so that test still sees a fresh import; here the module's copies are patched.
"""

from __future__ import annotations

import pytest
from fakes import TOKEN

from .conftest import free_port
from .test_space import OAUTH_ENV

SPACE_ENV = {"SYSTEM": "spaces", "SPACE_ID": "someone/mllmu-arena", **OAUTH_ENV}


def profile(user: str):
    import gradio as gr

    return gr.OAuthProfile({"name": user.title(), "preferred_username": user, "profile": f"https://huggingface.co/{user}",
                            "picture": ""})


def uploads(board) -> list:
    """The stored uploads (the references seeded in every store left out)."""
    return [s for s in board.submissions() if s.kind.value == "submission"]


def submission_file(tmp_path, i: int, submitter: str = "lab") -> str:
    from benchmark.submission import dump_submission

    from ..conftest import make_submission

    path = tmp_path / f"sub-{i}.submission.json"
    path.write_text(dump_submission(make_submission(model_name=f"signed-{i}", submitter=submitter,
                                                    values={"forget/cloze/text/accuracy": 10 + i / 8})))
    return str(path)


@pytest.fixture
def board(tmp_path):
    from leaderboard.service import Leaderboard, LeaderboardSettings

    with Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "lb.sqlite", seed_demo=False)) as b:
        yield b


def build(tmp_path, forget_ids, monkeypatch, env):
    from fakes import fake_registry

    import app as appmod
    from leaderboard.service import Leaderboard, LeaderboardSettings
    from probes.models import ModelPool
    from probes.service import ProbeService
    from settings import AppSettings

    for name in ("SYSTEM", "SPACE_ID", *OAUTH_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
        if name in OAUTH_ENV:
            import gradio as gr
  # gradio.oauth reads these when gradio is imported, before this test
            monkeypatch.setattr(gr.oauth, name, value, raising=False)
    settings = AppSettings(db=tmp_path / "lb.sqlite", admin_token=TOKEN, port=free_port())
    board = Leaderboard.open(LeaderboardSettings(db_path=settings.db, seed_demo=False))
    probe = ProbeService(ModelPool(registry=fake_registry(forget_ids)), max_new_tokens=5, time_limit_s=5)
    return appmod, appmod.build_app(settings, appmod.Services(board, probe)), board, settings


def handler(blocks, elem_id):
    """The function wired to the click of the button ``elem_id``, and the components it takes."""
    button = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == elem_id)
    fn = next(f for f in blocks.fns.values() if any(t[0] == button._id for t in f.targets))
    return fn


def form_values(blocks, fn, results: str, **fields) -> dict:
    """The dict a set-of-inputs handler receives: every input's value, the results file and ``fields`` by elem_id."""
    data = {}
    for comp in fn.inputs:
        data[comp] = getattr(comp, "value", None)
    by_id = {getattr(c, "elem_id", None): c for c in fn.inputs}
    data[by_id["submit-results"]] = results
    for elem_id, value in fields.items():
        data[by_id[elem_id]] = value
    return data


def test_signed_in_submission_records_the_account(board, tmp_path):
    from leaderboard.submit_tab import submit_signed_in

    view = submit_signed_in(board, profile("alice"), submission_file(tmp_path, 1), None, {"submitter": "Bob"})
    assert view.ok, view.message
    assert board.get(view.submission_id).submission.metadata.submitter == "hf:alice"


def test_signed_out_submission_is_refused(board, tmp_path):
    from leaderboard.submit_tab import preview_signed_in, submit_signed_in

    view = submit_signed_in(board, None, submission_file(tmp_path, 1), None, {"submitter": "Bob"})
    assert not view.ok and "Sign in with Hugging Face to submit" in view.message and view.submission_id is None
    assert uploads(board) == []
    preview = preview_signed_in(board, None, submission_file(tmp_path, 1), None, {})
    assert preview.ok and "Sign in with Hugging Face to submit" in preview.message  # a preview stores nothing


def test_the_limit_counts_per_account_whatever_name_is_typed(board, tmp_path):
    from leaderboard.submit_tab import submit_signed_in

    limit = board.settings.rate_limit_count
    views = [submit_signed_in(board, profile("alice"), submission_file(tmp_path, i, submitter=f"name-{i}"), None,
                              {"submitter": f"typed-{i}"}) for i in range(limit + 1)]
    assert [v.ok for v in views] == [True] * limit + [False]
    assert "hf:alice" in views[-1].message and "limit" in views[-1].message.lower()
    other = submit_signed_in(board, profile("carol"), submission_file(tmp_path, 99), None, {})
    assert other.ok  # another account has its own count


def test_on_a_space_the_submit_tab_needs_sign_in(tmp_path, forget_ids, monkeypatch):
    appmod, blocks, board, _ = build(tmp_path, forget_ids, monkeypatch, SPACE_ENV)
    try:
        assert appmod.space_oauth() and not appmod.space_sign_in(appmod.AppSettings())  # no admin users here
        assert [type(b).__name__ for b in blocks.blocks.values()].count("LoginButton") == 1
        submitter = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "submit-submitter")
        assert submitter.interactive is False
        fn = handler(blocks, "submit-confirm")
        message, _ = fn.fn(form_values(blocks, fn, submission_file(tmp_path, 1)), None)
        assert "Sign in with Hugging Face to submit" in message and uploads(board) == []
        message, _ = fn.fn(form_values(blocks, fn, submission_file(tmp_path, 1)), profile("alice"))
        assert "Submitted as #" in message
        assert [s.submission.metadata.submitter for s in uploads(board)] == ["hf:alice"]
    finally:
        blocks.close()
        board.close()


def test_locally_the_form_is_unchanged(tmp_path, forget_ids, monkeypatch):
    appmod, blocks, board, _ = build(tmp_path, forget_ids, monkeypatch, {})
    try:
        assert not appmod.space_oauth()
        assert "LoginButton" not in [type(b).__name__ for b in blocks.blocks.values()]
        submitter = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "submit-submitter")
        assert submitter.interactive is not False
        fn = handler(blocks, "submit-confirm")
        values = [None] * len(fn.inputs)
        ids = [getattr(c, "elem_id", None) for c in fn.inputs]
        values[ids.index("submit-results")] = submission_file(tmp_path, 1)
        values[ids.index("submit-submitter")] = "Local Lab"
        values[[getattr(c, "label", None) for c in fn.inputs].index("Accuracies in the file are")] = "percent"
        message, _ = fn.fn(*values)
        assert "Submitted as #" in message
        assert [s.submission.metadata.submitter for s in uploads(board)] == ["Local Lab"]
    finally:
        blocks.close()
        board.close()


# As in test_space: Gradio's dev-mode watcher thread on a Space needs the `spaces` package, absent here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_api_submit_on_a_space_needs_a_session_or_the_admin_token(tmp_path, forget_ids, monkeypatch):
    from gradio_client import Client

    from benchmark.submission import dump_submission

    from ..conftest import make_submission

    _, blocks, board, settings = build(tmp_path, forget_ids, monkeypatch, SPACE_ENV)
    try:
        _, url, _ = blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=settings.port,
                                  quiet=True)
        client = Client(url, verbose=False)
        raw = dump_submission(make_submission(model_name="api-signed", submitter="someone"))
        refused = client.predict(results=raw, metadata={}, api_name="/submit")
        assert refused["ok"] is False and refused["message"].startswith("Sign in with Hugging Face to submit")
        wrong = client.predict(results=raw, metadata={}, admin_token="guess", api_name="/submit")
        assert wrong["ok"] is False and "wrong admin token" in wrong["message"]
        assert uploads(board) == []
        done = client.predict(results=raw, metadata={}, admin_token=TOKEN, api_name="/submit")
        assert done["ok"] is True
        assert board.get(done["id"]).submission.metadata.submitter == "someone"  # as given, by a moderator
        # A signed-in session (Gradio injects the profile) submits as the account.
        fn = next(f for f in blocks.fns.values() if f.api_name == "submit")
        raw2 = dump_submission(make_submission(model_name="api-signed-2", submitter="someone"))
        signed = fn.fn(raw2, {"submitter": "typed"}, request=None, profile=profile("alice"))
        assert signed["ok"] and board.get(signed["id"]).submission.metadata.submitter == "hf:alice"
    finally:
        blocks.close()
        board.close()


def test_on_a_space_adding_a_robustness_file_needs_sign_in(tmp_path, forget_ids, monkeypatch):
    from leaderboard.service import DEMO_RESULTS
    from leaderboard.store import RobustnessStatus, Status

    appmod, blocks, board, _ = build(tmp_path, forget_ids, monkeypatch, SPACE_ENV)
    try:
        row = board.submit((DEMO_RESULTS / "demo-ga.submission.json").read_bytes(), status=Status.APPROVED)
        robustness = str(DEMO_RESULTS / "demo-ga.robustness.json")
        fn = handler(blocks, "robust-submit")
        message = fn.fn(row.id, robustness, None)
        assert "Sign in with Hugging Face to submit a robustness file" in message and "nothing was stored" in message
        assert board.pending_robustness() == []
        message = fn.fn(row.id, robustness, profile("alice"))
        assert "stored as R" in message
        assert [r.status for r in board.pending_robustness()] == [RobustnessStatus.PENDING]
    finally:
        blocks.close()
        board.close()


def test_locally_adding_a_robustness_file_needs_no_sign_in(tmp_path, forget_ids, monkeypatch):
    from leaderboard.service import DEMO_RESULTS
    from leaderboard.store import Status

    _, blocks, board, _ = build(tmp_path, forget_ids, monkeypatch, {})
    try:
        row = board.submit((DEMO_RESULTS / "demo-ga.submission.json").read_bytes(), status=Status.APPROVED)
        message = handler(blocks, "robust-submit").fn(row.id, str(DEMO_RESULTS / "demo-ga.robustness.json"))
        assert "stored as R" in message and len(board.pending_robustness()) == 1
    finally:
        blocks.close()
        board.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_api_submit_robustness_on_a_space_needs_a_session_or_the_admin_token(tmp_path, forget_ids, monkeypatch):
    from gradio_client import Client

    from leaderboard.service import DEMO_RESULTS
    from leaderboard.store import Status

    _, blocks, board, settings = build(tmp_path, forget_ids, monkeypatch, SPACE_ENV)
    try:
        row = board.submit((DEMO_RESULTS / "demo-ga.submission.json").read_bytes(), status=Status.APPROVED)
        text = (DEMO_RESULTS / "demo-ga.robustness.json").read_text()
        _, url, _ = blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=settings.port,
                                  quiet=True)
        client = Client(url, verbose=False)
        refused = client.predict(submission_id=str(row.id), robustness=text, api_name="/submit_robustness")
        assert refused["ok"] is False and refused["message"].startswith("Sign in with Hugging Face to submit")
        wrong = client.predict(submission_id=str(row.id), robustness=text, admin_token="guess",
                               api_name="/submit_robustness")
        assert wrong["ok"] is False and "wrong admin token" in wrong["message"]
        assert board.pending_robustness() == []
        done = client.predict(submission_id=str(row.id), robustness=text, admin_token=TOKEN,
                              api_name="/submit_robustness")
        assert done["ok"] is True and done["id"].startswith("R")
        fn = next(f for f in blocks.fns.values() if f.api_name == "submit_robustness")
        signed = fn.fn(str(row.id), text.replace('"changed": 0', '"changed": 1', 1), request=None,
                       profile=profile("alice"))
        assert signed["ok"], signed  # a signed-in session adds it without the token
    finally:
        blocks.close()
        board.close()
