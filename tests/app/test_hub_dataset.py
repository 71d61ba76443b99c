"""The app's --hub-dataset / MLLMU_HUB_DATASET reaches the store (leaderboard.hub_sync; tested there in depth)."""

from __future__ import annotations

import json

import pytest

from leaderboard.hub_sync import MirroredStore
from leaderboard.references import REFERENCES


def test_the_app_passes_its_hub_dataset_setting_to_the_store(tmp_path, monkeypatch):
    from app import make_services
    from settings import AppSettings

    monkeypatch.delenv("MLLMU_HUB_DATASET", raising=False)
    monkeypatch.setenv("MLLMU_LEADERBOARD_SEED_DEMO", "false")
    services = make_services(AppSettings(db=tmp_path / "lb.sqlite", hub_dataset=str(tmp_path / "dataset")))
    with services.board as board:
        assert isinstance(board.store, MirroredStore) and board.store.mirror.folder == tmp_path / "lb.hub"
    rows = [json.loads(p.read_text()) for p in (tmp_path / "dataset").glob("submissions/*/*.json")
            if p.name.count(".") == 1]
    assert sorted(r["kind"] for r in rows) == ["reference"] * len(REFERENCES)


def test_a_hub_dataset_without_a_token_stops_the_app_with_one_line(tmp_path, monkeypatch, capsys):
    from app import main

    monkeypatch.setenv("MLLMU_HUB_DATASET", "someone/board-store")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(SystemExit) as stop:
        main(["--db", str(tmp_path / "lb.sqlite"), "--port", "0"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: MLLMU_HUB_DATASET='someone/board-store' is set but HF_TOKEN is not")
    assert not (tmp_path / "lb.sqlite").exists()
