"""Settings: defaults, environment, flags over environment; the app builds without launching; no work at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import AppSettings, build_parser, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_need_no_configuration(monkeypatch):
    for name in AppSettings.model_fields:
        monkeypatch.delenv(f"MLLMU_{name.upper()}", raising=False)
    s = load_settings([])
    assert (s.host, s.port, s.db, s.models, s.data) == ("127.0.0.1", 7860, Path("var/leaderboard.sqlite"), None, "demo")
    assert s.admin_secret is None and s.quantize == "auto" and s.max_new_tokens == 50


def test_flags_override_environment(monkeypatch):
    monkeypatch.setenv("MLLMU_PORT", "8001")
    monkeypatch.setenv("MLLMU_HOST", "0.0.0.0")
    monkeypatch.setenv("MLLMU_ADMIN_USERS", "alice, bob")
    s = load_settings(["--port", "9000", "--db", "/tmp/x.sqlite", "--no-allow-custom-models", "--forget-ratio", "5"])
    assert (s.port, s.host, s.db, s.allow_custom_models, s.forget_ratio) == (9000, "0.0.0.0", Path("/tmp/x.sqlite"),
                                                                             False, 5)
    assert s.admin_users == ("alice", "bob")
    with pytest.raises(ValidationError, match="quantize"):
        load_settings(["--quantize", "3bit"])


def test_every_setting_has_a_flag_and_is_documented():
    flags = build_parser().format_help()
    docs = (ROOT / "docs" / "app.md").read_text()
    for name in AppSettings.model_fields:
        assert "--" + name.replace("_", "-") in flags
        assert f"MLLMU_{name.upper()}" in docs, name


def test_importing_app_does_no_work():
    code = ("import sys, app; heavy = {'gradio', 'torch', 'transformers', 'leaderboard.service'} & set(sys.modules);"
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_help_lists_the_flags():
    out = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for flag in ("--host", "--port", "--db", "--models", "--data", "--admin-token", "--answer-time-limit"):
        assert flag in out.stdout


def test_a_busy_port_gets_one_line_naming_the_flag():
    import os
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use; start the app with --port N (or --port 0 for any free "
        "port)"]


def test_a_space_is_reachable_the_host_follows_gradio_server_name(monkeypatch):
    """A Space sets GRADIO_SERVER_NAME=0.0.0.0; the app must listen there, not on 127.0.0.1."""
    for name in ("MLLMU_HOST", "MLLMU_PORT", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert (load_settings([]).host, load_settings([]).port) == ("127.0.0.1", 7860)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    assert (load_settings([]).host, load_settings([]).port) == ("0.0.0.0", 7861)
    monkeypatch.setenv("MLLMU_HOST", "10.0.0.1")  # ours wins over Gradio's, the flag over both
    assert load_settings([]).host == "10.0.0.1" and load_settings(["--host", "1.2.3.4"]).host == "1.2.3.4"
    from app import launch_kwargs

    assert launch_kwargs(load_settings([]))["server_name"] == "10.0.0.1"
