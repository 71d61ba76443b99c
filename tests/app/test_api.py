"""The named API endpoints against a live server on 127.0.0.1, with gradio_client."""

from __future__ import annotations

import json

import pytest
from fakes import TOKEN, UPSTREAM_METADATA


def test_named_endpoints_are_documented(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/leaderboard", "/changelog", "/submit", "/moderate", "/probe"} <= set(endpoints)


def test_leaderboard_kinds_pages_and_structured_errors(client):
    real = client.predict(api_name="/leaderboard")
    assert real["kinds"] == ["reference", "submission"] and {r["kind"] for r in real["rows"]} == {"reference"}
    assert all(r["rank"] is None and r["ranked_on"].endswith("of 24 cells") for r in real["rows"])
    demo = client.predict(kinds="demo", api_name="/leaderboard")
    assert demo["total"] == 6 and {r["kind"] for r in demo["rows"]} == {"demo"}
    assert all(r["rank"] is not None and r["rank_worst"] >= r["rank"] for r in demo["rows"])
    # One scale: ROUGE-L as 0-100 like the accuracies.
    assert all(10 < r["forget/generation/image_text/rougeL"] <= 100 for r in demo["rows"])
    page = client.predict(kinds="demo", limit=3, offset=2, api_name="/leaderboard")
    assert page["total"] == 6 and len(page["rows"]) == 3 and page["offset"] == 2
    assert [r["id"] for r in page["rows"]] == [r["id"] for r in demo["rows"][2:5]]
    for bad, words in (({"protocol": "nope"}, "unknown protocol"), ({"kinds": "toy"}, "unknown kind 'toy'"),
                       ({"sort_by": "zzz"}, "unknown sort_by"), ({"forget_ratio": "7"}, "forget_ratio must be")):
        answer = client.predict(**bad, api_name="/leaderboard")
        assert answer["ok"] is False and words in answer["error"]


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
    assert issue11["forget/generation/image_text/rougeL"] == pytest.approx(57.08, abs=0.005)  # x100
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
    for sid, action, words in ((9999, "approve", "no submission with id 9999"),
                               (done["id"], "delete", "unknown action"), ("1.9", "approve", "whole number")):
        refused = client.predict(token=TOKEN, submission_id=sid, action=action, api_name="/moderate")
        assert refused["ok"] is False and words in refused["message"]
    ok = client.predict(token=TOKEN, submission_id=done["id"], action="approve", api_name="/moderate")
    assert ok["ok"] and "approved" in ok["message"]
    again = client.predict(token=TOKEN, submission_id=done["id"], action="approve", api_name="/moderate")
    assert again["ok"] is False and "already approved" in again["message"]
    log = client.predict(api_name="/changelog")["events"]
    assert (log[0]["action"], log[0]["id"], log[0]["model_name"]) == ("approved", done["id"], "API fixture")
    rows = client.predict(search="API fixture", api_name="/leaderboard")["rows"]
    assert [r["id"] for r in rows] == [done["id"]]
    values = json.loads(raw)["Forget Set Results"]
    assert rows[0]["forget/cloze/text/accuracy"] == values["fill_in_the_blank"]["pure_text_accuracy"]
    assert rows[0]["forget/generation/text/rougeL"] == pytest.approx(values["generation"]["Average ROUGE-L (Pure_Text)"]
                                                                     * 100)
    assert rows[0]["test/classification/text/accuracy"] is None


def test_probe_endpoint_runs_two_models(client, forget_ids):
    person = sorted(forget_ids)[0]
    result = client.predict(left="demo-base", right="demo-base", eval_set="forget", person=person,
                            question="all", modality="text", api_name="/probe")
    assert result["finished"] and len(result["rows"]) >= 5
    assert all(len(r["answers"]) == 2 and r["answers"][0]["marker"] == "knows" for r in result["rows"])
    assert all(r["verdict"] == r["answers"][1]["marker"] == "still known" for r in result["rows"])  # same model
    assert result["summary"].startswith("MC 5/5 vs 5/5") and result["verdicts"]["forgotten"] == 0
    assert result["verdict_summary"].startswith("forgot 0 of the")
    err = client.predict(left="demo-base", right="no/such model", person=person, api_name="/probe")
    assert "not a Hub model id" in err["error"]


def test_parallel_submissions_are_all_stored(client, live_app):
    """40 at once: each one stored or refused with a reason, none lost to a full queue."""
    from concurrent.futures import ThreadPoolExecutor

    from benchmark.submission import dump_submission
    from benchmark.vocabulary import Protocol

    from ..conftest import make_submission

    def one(i: int) -> dict:
        sub = make_submission(model_name=f"parallel-{i}", submitter=f"lab-{i}", protocol=Protocol.OFFICIAL,
                              values={"forget/cloze/text/accuracy": 10 + i / 8})
        return client.predict(results=dump_submission(sub), metadata={}, api_name="/submit")

    before = len(live_app["board"].submissions())
    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(one, range(40)))
    assert [a["ok"] for a in answers] == [True] * 40, [a["message"] for a in answers if not a["ok"]][:3]
    assert len(live_app["board"].submissions()) == before + 40


def test_wrong_tokens_are_throttled(client):
    """Last in this file: it locks 127.0.0.1 out of moderation for a minute."""
    answers = [client.predict(token=f"guess-{i}", submission_id=1, action="approve", api_name="/moderate")
               for i in range(6)]  # an earlier test already made one wrong guess
    messages = [a["message"] for a in answers]
    assert messages[0] == "wrong admin token" and "too many wrong admin tokens" in messages[-1]
    assert all(a["ok"] is False for a in answers)
    right = client.predict(token=TOKEN, submission_id=1, action="approve", api_name="/moderate")
    assert "too many wrong admin tokens" in right["message"]  # locked for the window, even with the right token
