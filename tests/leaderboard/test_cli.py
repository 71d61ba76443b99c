"""The command line, run in-process against a real SQLite file."""

from __future__ import annotations

import csv
import io
import json

import pytest

from leaderboard.cli import EXIT_DUPLICATE, EXIT_INVALID, EXIT_NOT_FOUND, main

from .test_ingest import FIXTURE_KEYS

META = [
    "--model-name", "LLaVA vanilla <b>fixture</b>", "--base-model", "llava-hf/llava-1.5-7b-hf", "--method", "vanilla",
    "--forget-ratio", "5", "--protocol", "official", "--submitter", "tester", "--unlearning-modality", "none",
]  # fmt: skip


@pytest.fixture
def db(tmp_path):
    return ["--db", str(tmp_path / "cli.sqlite")]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ingest_list_approve_export(capsys, db, official_fixture, official_values):
    code, out, err = run(capsys, "ingest", official_fixture, *META, *db)
    assert code == 0, err
    new_id = int(out.strip())

    code, out, err = run(capsys, "list", "--format", "json", "--status", "pending", *db)
    assert code == 0
    (record,) = json.loads(out)
    assert record["id"] == new_id and record["metadata"]["model_name"] == "LLaVA vanilla <b>fixture</b>"
    expected = {
        FIXTURE_KEYS[(task, name)]: value
        for task, metrics in official_values["Forget Set Results"].items()
        for name, value in metrics.items()
    }
    assert {c["key"]: c["value"] for c in record["cells"]} == expected  # exact, not approximately

    code, out, _ = run(capsys, "list", "--format", "csv", *db)
    rows = [r for r in csv.DictReader(io.StringIO(out)) if int(r["id"]) == new_id]
    assert {r["key"]: float(r["value"]) for r in rows} == expected

    code, out, err = run(capsys, "ingest", official_fixture, *META, *db)
    assert code == EXIT_DUPLICATE and "duplicate" in err and f"#{new_id}" in err

    assert run(capsys, "approve", new_id, *db)[:2] == (0, f"{new_id} approved\n")
    code, out, _ = run(capsys, "export", "--format", "json", *db)
    doc = json.loads(out)
    row = next(r for r in doc["rows"] if r["id"] == new_id)
    assert row["forget/classification/text/accuracy"] == expected["forget/classification/text/accuracy"]
    assert row["retain/classification/text/accuracy"] is None and row["kind"] == "submission"
    assert {c["id"]: c["lower_is_better"] for c in doc["columns"]}["retain/cloze/text/accuracy"] is False

    code, out, _ = run(capsys, "export", "--metrics", "all", *db)
    header = next(csv.reader(io.StringIO(out)))
    assert "forget/generation/text/bleu" in header and "combined" in header
    assert run(capsys, "reject", 999, *db)[0] == EXIT_NOT_FOUND


def test_invalid_file_exits_nonzero_with_field_messages_and_changes_nothing(capsys, db, tmp_path):
    assert run(capsys, "list", *db)[0] == 0
    before = run(capsys, "list", *db)[1]
    bad = tmp_path / "bad_final_evaluation_results.json"
    bad.write_text('{"Forget Set Results": {"classification": {"Pure Text Question Acuracy": 140}}}')
    code, out, err = run(capsys, "ingest", bad, *META, *db)
    assert code == EXIT_INVALID and out == ""
    assert "Forget Set Results.classification.Pure Text Question Acuracy" in err
    assert "did you mean 'Pure Text Question Accuracy'" in err
    code, out, err = run(capsys, "ingest", tmp_path / "missing.json", *META, *db)
    assert code == EXIT_INVALID and "cannot read" in err
    assert run(capsys, "list", *db)[1] == before


def test_ingest_submission_with_samples(capsys, db, tmp_path):
    from benchmark.submission import write_submission

    from ..conftest import make_submission

    sub = make_submission(values={"forget/cloze/text/accuracy": 50.0})
    path = write_submission(sub, tmp_path / "run.submission.json")
    samples = tmp_path / "run.samples.jsonl"
    samples.write_text(
        "\n".join(
            json.dumps({"set": "forget", "task": "cloze", "modality": "text", "profile_id": str(i), "question": "q",
                        "reference": "r", "raw_output": "r", "answer": "r", "scores": {"accuracy": float(i % 2)}})
            for i in range(10)
        )
    )  # fmt: skip
    code, out, err = run(capsys, "ingest", path, "--samples", samples, "--approve", *db)
    assert code == 0, err
    (record,) = [r for r in json.loads(run(capsys, "list", "--status", "approved", *db)[1]) if r["id"] == int(out)]
    (cell,) = record["cells"]
    assert (cell["n"], cell["ci_method"]) == (10, "wilson") and cell["ci_low"] < 50 < cell["ci_high"]
