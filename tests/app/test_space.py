"""The app built the way a Hugging Face Space builds it: front matter, requirements, OAuth variables."""

from __future__ import annotations

import logging
import re
import urllib.request
from pathlib import Path

import pytest

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
OAUTH_ENV = {"OAUTH_CLIENT_ID": "client", "OAUTH_CLIENT_SECRET": "secret", "OAUTH_SCOPES": "openid profile",
             "OPENID_PROVIDER_URL": "https://huggingface.co"}


def test_the_space_declares_oauth_and_installs_it():
    front = ROOT.joinpath("README.md").read_text(encoding="utf-8").split("---")[1]
    assert re.search(r"^hf_oauth: true$", front, re.M) and re.search(r"^app_file: app.py$", front, re.M)
    requirements = ROOT.joinpath("requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^gradio\[oauth\]==", requirements, re.M)
    import authlib  # noqa: F401  (what gradio[oauth] adds; without it a Space's sign-in fails at start-up)


def build(tmp_path, forget_ids, monkeypatch, env):
    from fakes import fake_registry

    import app as appmod
    from leaderboard.service import Leaderboard, LeaderboardSettings
    from probes.models import ModelPool
    from probes.service import ProbeService
    from settings import AppSettings

    for name in ("SYSTEM", "SPACE_ID", *OAUTH_ENV):
        monkeypatch.delenv(name, raising=False)
    import gradio.oauth

    for name, value in env.items():
        monkeypatch.setenv(name, value)
        if name in OAUTH_ENV:  # gradio.oauth read the variables when an earlier test imported gradio
            monkeypatch.setattr(gradio.oauth, name, value)
    settings = AppSettings(db=tmp_path / "lb.sqlite", admin_users=("alice",), port=free_port())
    board = Leaderboard.open(LeaderboardSettings(db_path=settings.db, seed_demo=False))
    probe = ProbeService(ModelPool(registry=fake_registry(forget_ids)), max_new_tokens=5, time_limit_s=5)
    return appmod, appmod.build_app(settings, appmod.Services(board, probe)), board, settings


# On a Space, Gradio's dev-mode file watcher thread needs the `spaces` package, which Spaces preinstall; here its
# thread stops at once with that message, which is all the warning is.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("oauth", [True, False], ids=["hf_oauth", "no-hf_oauth"])
def test_on_a_space_the_app_starts_with_or_without_oauth(tmp_path, forget_ids, monkeypatch, caplog, oauth):
    env = {"SYSTEM": "spaces", "SPACE_ID": "someone/mllmu-arena", **(OAUTH_ENV if oauth else {})}
    with caplog.at_level(logging.WARNING, logger="mllmu_arena"):
        appmod, blocks, board, settings = build(tmp_path, forget_ids, monkeypatch, env)
    try:
        assert appmod.space_sign_in(settings) is oauth
        buttons = [b for b in blocks.blocks.values() if type(b).__name__ == "LoginButton"]
        assert len(buttons) == (1 if oauth else 0)
        assert ("hf_oauth: true" in caplog.text) is not oauth  # without OAuth the log says how to turn it on
        _, url, _ = blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=settings.port,
                                  quiet=True)
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and "MLLMU-Bench Arena" in page.read().decode()
    finally:
        blocks.close()
        board.close()
