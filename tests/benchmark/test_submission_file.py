"""The versioned submission file: round trip, migration, refusal of newer versions, field-level errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.errors import UnsupportedSchemaVersion, ValidationFailed
from benchmark.metrics import CellKey, Unit, all_cell_keys
from benchmark.submission import SCHEMA_VERSION, read_submission, submission_json_schema, write_submission
from benchmark.vocabulary import EvalSet, Modality, Protocol, Task

ROOT = Path(__file__).resolve().parents[2]


def test_write_then_read_round_trips_exactly(tmp_path, submission):
    path = write_submission(submission, tmp_path / "run.submission.json")
    text = path.read_text()
    assert text.lstrip().startswith('{\n  "schema_version": 2')
    assert read_submission(path) == submission
    assert [p.name for p in tmp_path.iterdir()] == ["run.submission.json"]  # no temp file left behind


def test_unit_is_filled_from_the_metric_and_enforced():
    key = CellKey.parse("test/generation/text/rougeL")
    assert key.unit is Unit.FRACTION and key.lower_is_better
    assert CellKey.parse("celebrity/cloze/image_text/accuracy").unit is Unit.PERCENT
    assert not CellKey.parse("retain/cloze/text/accuracy").lower_is_better
    assert len(all_cell_keys()) == 4 * (1 + 4 + 1) * 2
    assert len(all_cell_keys(headline_only=True)) == 24


def test_version_1_file_is_migrated(data_dir):
    sub = read_submission(data_dir / "submission_v1.json")
    assert sub.schema_version == SCHEMA_VERSION
    assert sub.metadata.model_name == "LLaVA-1.5-7B NPO (draft v1 file)"
    assert sub.metadata.protocol is Protocol.STRICT and sub.metadata.hub_revision == "main"
    assert sub.provenance is not None and sub.provenance.model_revision == "0123abcd"
    assert sub.provenance.protocol is Protocol.STRICT
    assert {c.key.id: c.value for c in sub.cells} == {
        "forget/classification/image_text/accuracy": 31.5,
        "forget/classification/text/accuracy": 29.0,
        "forget/generation/image_text/rougeL": 0.25,
        "forget/generation/image_text/rouge1": 0.3,
        "retain/cloze/text/accuracy": 61.25,
    }
    assert sub.cell_map()[CellKey(EvalSet.FORGET, Task.GENERATION, Modality.IMAGE_TEXT, "rougeL")].unit is Unit.FRACTION


def test_file_from_the_future_is_refused_clearly(data_dir):
    with pytest.raises(UnsupportedSchemaVersion) as info:
        read_submission(data_dir / "submission_v99_future.json")
    assert info.value.issues[0].field == "schema_version"
    assert "99 is newer" in str(info.value) and "upgrade" in str(info.value)


def _doc(submission, **changes):
    doc = json.loads(submission.model_dump_json())
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return doc


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"metadata__modle_name": "x"}, "metadata.modle_name", "did you mean 'model_name'"),
        ({"cells__0__metric": "acuracy"}, "cells[0].metric", "did you mean 'accuracy'"),
        ({"cells__0__value": 140.0}, "cells[0].value", "out of range [0, 100]"),
        ({"cells__0__value": math.nan}, "cells[0].value", "finite"),
        ({"cells__0__value": math.inf}, "cells[0].value", "finite"),
        ({"cells__0__value": "40"}, "cells[0].value", "valid number"),
        ({"cells__0__unit": "fraction"}, "cells[0].unit", "percent"),
        ({"cells__0__n": 3, "cells__0__n_unparsed": 4}, "cells[0]", "exceeds n"),
        ({"metadata__forget_ratio": 20}, "metadata.forget_ratio", "5, 10 or 15"),
        ({"metadata__link": "javascript:alert(1)"}, "metadata.link", "http"),
        ({"metadata__submitter": KeyError}, "metadata.submitter", "missing"),
        ({"cells": []}, "cells", "at least one"),
        ({"provenance__protocol": "official"}, "(document)", "differs"),
    ],
)
def test_malformed_submission_names_the_field(submission, changes, field, words):
    with pytest.raises(ValidationFailed) as info:
        read_submission(_doc(submission, **changes))
    fields = {issue.field: issue.message for issue in info.value.issues}
    assert field in fields, fields
    assert words in fields[field]


def test_duplicate_cells_are_refused(submission):
    doc = _doc(submission)
    doc["cells"].append(dict(doc["cells"][0]))
    with pytest.raises(ValidationFailed, match=r"cells\[2\] repeats cell forget/classification/image_text/accuracy"):
        read_submission(doc)


@pytest.mark.parametrize(
    ("payload", "words"),
    [(b"", "empty"), (b"  \n", "empty"), (b"[1]", "JSON object"), (b"{", "not valid JSON"), (b"\xff\xfe", "UTF-8")],
)
def test_unreadable_files_are_refused(payload, words):
    with pytest.raises(ValidationFailed) as info:
        read_submission(payload)
    assert info.value.issues[0].field == "file" and words in info.value.issues[0].message


def test_size_limit(submission):
    with pytest.raises(ValidationFailed, match="over the 100-byte limit"):
        read_submission(submission.model_dump_json(), max_bytes=100)


def test_committed_json_schema_is_current():
    exported = subprocess.run(
        [sys.executable, "-m", "leaderboard", "schema"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(exported) == submission_json_schema()
    committed = ROOT / "docs" / "submission.schema.json"
    assert json.loads(committed.read_text()) == submission_json_schema(), (
        "run: python -m leaderboard schema > docs/submission.schema.json"
    )
    assert list(submission_json_schema()["properties"])[0] == "schema_version"
