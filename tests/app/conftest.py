"""Fixtures for the app tests: a live app on 127.0.0.1 with a temp store and deterministic fake models."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import TOKEN  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def forget_ids() -> frozenset[str]:
    from benchmark.reader import load_benchmark_cached
    from benchmark.vocabulary import EvalSet

    bench = load_benchmark_cached("demo")
    return frozenset(p.id for p in bench.eval_profiles(EvalSet.FORGET, 10))


@pytest.fixture(scope="session")
def live_app(tmp_path_factory, forget_ids):
    """The whole app (real store, fake models: demo-base knows everyone, any other name forgets the forget set)."""
    from fakes import fake_registry

    import app as appmod
    from leaderboard.service import Leaderboard, LeaderboardSettings
    from probes.models import ModelPool
    from probes.service import ProbeService
    from settings import AppSettings

    folder = tmp_path_factory.mktemp("app")
    settings = AppSettings(db=folder / "lb.sqlite", admin_token=TOKEN, port=free_port())
    board = Leaderboard.open(LeaderboardSettings(db_path=settings.db))

    probe = ProbeService(ModelPool(registry=fake_registry(forget_ids)), max_new_tokens=20, time_limit_s=10)
    blocks = appmod.build_app(settings, appmod.Services(board, probe))
    _, url, _ = blocks.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=settings.port,
                              quiet=True)
    yield {"url": url, "board": board, "settings": settings}
    blocks.close()
    board.close()


@pytest.fixture(scope="session")
def client(live_app):
    from gradio_client import Client

    return Client(live_app["url"], verbose=False)
