"""The named API endpoints against a live server on 127.0.0.1, with gradio_client."""

from __future__ import annotations

import json

import pytest
from fakes import TOKEN, UPSTREAM_METADATA


def test_named_endpoints_are_documented(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/leaderboard", "/submit", "/moderate", "/probe"} <= set(endpoints)


def test_leaderboard_json_has_reference_rows_and_directions(client):
    table = client.predict(api_name="/leaderboard")
    assert table["protocol"] == "official"
    directions = {c["id"]: c["lower_is_better"] for c in table["columns"]}
    assert directions["forget/classification/image_text/accuracy"] is True
    assert directions["retain/generation/text/rougeL"] is False
    refs = [r for r in table["rows"] if r["kind"] == "reference"]
    assert len(refs) == 6 and all(r["link"].startswith("https://github.com/franciscoliu/MLLMU-Bench/issues/")
                                  for r in refs)
    issue11 = next(r for r in refs if r["link"].endswith("/11"))
    assert issue11["forget/classification/image_text/accuracy"] == pytest.approx(49.17, abs=0.005)
    assert issue11["retain/classification/image_text/accuracy"] is None  # missing, not zero
    ranked = [r["rank"] for r in table["rows"] if r["rank"] is not None]
    assert ranked == sorted(ranked)
    by_forget = client.predict(sort_by="forget/generation/image_text/rougeL", api_name="/leaderboard")["rows"]
    values = [r["forget/generation/image_text/rougeL"] for r in by_forget]
    present = [v for v in values if v is not None]
    assert present == sorted(present) and values[: len(present)] == present  # lower first, empty last


def test_submit_approve_and_see_the_row(client, official_fixture):
    raw = official_fixture.read_text()
    meta = {**UPSTREAM_METADATA, "model_name": "API fixture"}
    before = client.predict(api_name="/leaderboard")["rows"]
    bad = client.predict(results=raw, metadata={**meta, "forget_ratio": 7}, api_name="/submit")
    assert bad["ok"] is False and "metadata.forget_ratio" in bad["message"] and bad["id"] is None
    broken = client.predict(results=raw[:-20], metadata=meta, api_name="/submit")
    assert broken["ok"] is False and "nothing was stored" in broken["message"]
    done = client.predict(results=raw, metadata=meta, filename="fixture.json", api_name="/submit")
    assert done["ok"] is True and isinstance(done["id"], int)
    again = client.predict(results=raw, metadata=meta, api_name="/submit")
    assert again["ok"] is False and "duplicate" in again["message"]
    assert client.predict(api_name="/leaderboard")["rows"] == before  # pending: not ranked yet
    denied = client.predict(token="wrong", submission_id=done["id"], action="approve", api_name="/moderate")
    assert denied == {"ok": False, "message": "wrong admin token"}
    ok = client.predict(token=TOKEN, submission_id=done["id"], action="approve", api_name="/moderate")
    assert ok["ok"] and "approved" in ok["message"]
    rows = client.predict(search="API fixture", api_name="/leaderboard")["rows"]
    assert [r["id"] for r in rows] == [done["id"]]
    values = json.loads(raw)["Forget Set Results"]
    assert rows[0]["forget/cloze/text/accuracy"] == values["fill_in_the_blank"]["pure_text_accuracy"]
    assert rows[0]["test/classification/text/accuracy"] is None


def test_probe_endpoint_runs_two_models(client, forget_ids):
    person = sorted(forget_ids)[0]
    result = client.predict(left="demo-base", right="demo-base", eval_set="forget", person=person,
                            question="all", modality="text", api_name="/probe")
    assert result["finished"] and len(result["rows"]) >= 5
    assert all(len(r["answers"]) == 2 and r["answers"][0]["marker"] == "still known" for r in result["rows"])
    assert result["summary"].startswith("MC 5/5 vs 5/5")
    err = client.predict(left="demo-base", right="no/such model", person=person, api_name="/probe")
    assert "not a Hub model id" in err["error"]
