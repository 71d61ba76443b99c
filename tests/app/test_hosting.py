"""README's "Hosting on a Hugging Face Space" checklist, checked against the front matter, settings and the app."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def front_matter() -> dict:
    return yaml.safe_load(README.read_text(encoding="utf-8").split("---")[1])


def checklist() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Hosting on a Hugging Face Space")
    return text[start:text.index("\n## ", start)]


def checklist_variables() -> dict[str, str]:
    """The ``NAME=value`` lines of the checklist's variables block (comments dropped)."""
    block = re.search(r"\*\*Variables\*\*.*?```\n(.*?)```", checklist(), re.S)
    assert block, "the checklist's Variables step has no code block"
    pairs = (line.split("#")[0].strip().split("=", 1) for line in block[1].splitlines() if line.strip())
    return {name: value for name, value in pairs}


def settings_variables() -> set[str]:
    """Every environment variable the app's settings read: AppSettings and LeaderboardSettings."""
    from pydantic import AliasChoices

    from leaderboard.service import LeaderboardSettings
    from settings import AppSettings

    names = set()
    for cls in (AppSettings, LeaderboardSettings):
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):  # e.g. MLLMU_HOST or GRADIO_SERVER_NAME; HF_TOKEN
                names |= {c for c in alias.choices if isinstance(c, str) and c.isupper()}
            else:
                names.add(f"{prefix}{name}".upper())
    return names


def test_the_front_matter_declares_the_space_as_the_checklist_says():
    front = front_matter()
    import gradio

    assert front["sdk"] == "gradio" and front["app_file"] == "app.py" and front["hf_oauth"] is True
    assert front["sdk_version"] == gradio.__version__  # the Gradio the tests run, pinned in requirements.txt
    assert re.search(rf"^gradio\[oauth\]=={re.escape(front['sdk_version'])}\b", (ROOT / "requirements.txt").read_text(),
                     re.M)
    assert str(front["python_version"]) == "3.11"
    step = checklist()
    for key in ("sdk: gradio", f"sdk_version: {front['sdk_version']}", 'python_version: "3.11"', "app_file: app.py",
                "hf_oauth: true"):
        assert f"`{key}`" in step, f"the checklist does not name {key}"


def test_every_checklist_variable_is_a_setting_and_valid():
    from backend.registry import load_registry
    from leaderboard.service import LeaderboardSettings
    from settings import AppSettings

    variables = checklist_variables()
    known = settings_variables()
    ours = {n for n in variables if n.startswith("MLLMU_")}
    assert ours and ours <= known, f"not read by any setting: {sorted(ours - known)}"
    assert set(variables) - ours <= known | {"HF_HOME"}  # HF_HOME: read by huggingface_hub
    # The values are valid settings (the Space would refuse to start otherwise).
    env = {k: v for k, v in variables.items() if k in known}
    settings = AppSettings(**{k.removeprefix("MLLMU_").lower(): v for k, v in env.items()
                              if k.removeprefix("MLLMU_").lower() in AppSettings.model_fields})
    assert settings.quantize == "4bit" and settings.admin_users == ("your-hf-user",)
    registry = load_registry()
    assert {settings.probe_left, settings.probe_right} <= set(registry.names)
    board = LeaderboardSettings(seed_demo=env["MLLMU_LEADERBOARD_SEED_DEMO"], MLLMU_DB=env["MLLMU_DB"])
    assert board.seed_demo is False and str(board.db_path) == "/data/leaderboard.sqlite"
    assert variables["HF_HOME"].startswith("/data/")  # the Hub cache on persistent storage


def test_the_checklists_secrets_and_space_variables_are_read():
    step = checklist()
    known = settings_variables()
    for secret in ("MLLMU_ADMIN_TOKEN", "HF_TOKEN"):
        assert f"`{secret}`" in step and secret in known
    for hardware in ("*CPU basic*", "*ZeroGPU*", "*GPU*"):
        assert hardware in step
    from backend.zerogpu import ZERO_GPU_VARIABLE

    assert f"`{ZERO_GPU_VARIABLE}=true`" in step
    assert re.search(r"^spaces==\d", (ROOT / "requirements.txt").read_text(), re.M)
    assert "`GRADIO_SERVER_NAME=0.0.0.0`" in step and "`SPACE_ID`" in step and "`OAUTH_CLIENT_ID`" in step


@pytest.fixture
def space_env(monkeypatch, tmp_path):
    """A CPU Space's environment with the checklist's variables; the store and Hub cache under ``tmp_path``."""
    import torch

    for name in ("SPACES_ZERO_GPU", "OAUTH_CLIENT_ID", "MLLMU_HOST", "MLLMU_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    env = {**checklist_variables(), "SYSTEM": "spaces", "SPACE_ID": "someone/mllmu-arena",
           "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7860",
           # Offline here: the demo benchmark instead of the Hub's, and the store on this test's disk.
           "MLLMU_DATA": "demo", "MLLMU_DB": str(tmp_path / "data" / "leaderboard.sqlite"),
           "HF_HOME": str(tmp_path / "data" / ".huggingface")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_the_app_builds_with_the_spaces_environment_and_survives_a_restart(space_env):
    import app
    from benchmark.submission import dump_submission
    from leaderboard.store import Status
    from settings import load_settings

    from ..conftest import make_submission

    settings = load_settings([])
    assert settings.host == "0.0.0.0" and settings.port == 7860  # where the Space says
    assert str(settings.db) == space_env["MLLMU_DB"]
    services = app.make_services(settings)
    try:
        assert services.probe.pool.demo_only  # CPU basic: the demo only, whatever MLLMU_PROBE_LEFT says
        assert not services.board.settings.seed_demo
        blocks = app.build_app(settings, services)
        blocks.close()
        row = services.board.submit(dump_submission(make_submission(model_name="kept")).encode(),
                                    status=Status.APPROVED)
    finally:
        services.board.close()
    # A restart with persistent storage: the same MLLMU_DB, a new process's services.
    again = app.make_services(load_settings([]))
    try:
        assert again.board.get(row.id).submission.metadata.model_name == "kept"
    finally:
        again.board.close()
