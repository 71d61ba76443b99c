"""Ingestion of upstream files, our submission files and samples; refusal of malformed input."""

from __future__ import annotations

import json
import math

import pytest

from benchmark.errors import ValidationFailed
from benchmark.metrics import Unit, all_cell_keys
from benchmark.submission import dump_submission
from benchmark.vocabulary import EvalSet
from leaderboard.ingest import SourceFormat, parse_upload, parse_upstream
from leaderboard.service import Leaderboard, LeaderboardSettings

from ..conftest import make_submission
from .conftest import UPSTREAM_METADATA, snapshot

# The fixture's keys, spelled out independently of the code under test.
FIXTURE_KEYS = {
    ("fill_in_the_blank", "image_textual_accuracy"): "forget/cloze/image_text/accuracy",
    ("fill_in_the_blank", "pure_text_accuracy"): "forget/cloze/text/accuracy",
    ("classification", "Image-Textual Question Accuracy"): "forget/classification/image_text/accuracy",
    ("classification", "Pure Text Question Accuracy"): "forget/classification/text/accuracy",
    **{
        ("generation", f"Average {label} ({kind})"): f"forget/generation/{modality}/{metric}"
        for label, metric in (("ROUGE-1", "rouge1"), ("ROUGE-2", "rouge2"), ("ROUGE-L", "rougeL"), ("BLEU", "bleu"))
        for kind, modality in (("Image_Textual", "image_text"), ("Pure_Text", "text"))
    },
}


def test_shared_fixture_gives_exactly_its_twelve_forget_cells(official_fixture, official_values):
    parsed = parse_upload(official_fixture.read_bytes(), metadata=UPSTREAM_METADATA)
    assert parsed.source_format is SourceFormat.UPSTREAM
    got = {c.key.id: c.value for c in parsed.submission.cells}
    expected = {
        FIXTURE_KEYS[(task, name)]: value
        for task, metrics in official_values["Forget Set Results"].items()
        for name, value in metrics.items()
    }
    assert len(expected) == 12
    assert got == expected  # exact floats, nothing rescaled
    empty = [k for k in all_cell_keys() if k.id not in got]
    assert len(empty) == 48 - 12 and all(k.set is not EvalSet.FORGET for k in empty)
    assert parsed.submission.metadata.protocol.value == "official"
    assert parsed.submission.metadata.protocol_version == "upstream"
    units = {c.key.id: c.unit for c in parsed.submission.cells}
    assert units["forget/cloze/text/accuracy"] is Unit.PERCENT
    assert units["forget/generation/text/bleu"] is Unit.FRACTION


def test_both_key_styles_in_both_accuracy_tasks_and_partial_files():
    doc = {
        "Test Set Results": {
            "classification": {"image_textual_accuracy": 43.33},
            "fill_in_the_blank": {"Pure Text Question Accuracy": 17.39},
        },
        "Retain Set (real person) Results": {"generation": {"Average ROUGE-L (Pure_Text)": 0.41}},
    }
    cells = {c.key.id: c.value for c in parse_upstream(doc)}
    assert cells == {
        "test/classification/image_text/accuracy": 43.33,
        "test/cloze/text/accuracy": 17.39,
        "celebrity/generation/text/rougeL": 0.41,
    }


def test_fractional_accuracies_when_declared():
    doc = {"Retain Set (shared dataset) Results": {"classification": {"Pure Text Question Accuracy": 0.5}}}
    assert parse_upstream(doc, accuracy_unit=Unit.FRACTION)[0].value == 50.0
    with pytest.raises(ValidationFailed, match="out of range"):
        parse_upstream(
            {"Forget Set Results": {"classification": {"pure_text_accuracy": 50.0}}}, accuracy_unit=Unit.FRACTION
        )


def test_same_cell_twice_via_two_key_styles_is_refused():
    doc = {"Forget Set Results": {"classification": {"pure_text_accuracy": 40.0, "Pure Text Question Accuracy": 41.0}}}
    with pytest.raises(ValidationFailed, match="second time"):
        parse_upstream(doc)


def _fixture_doc(official_values):
    return json.loads(json.dumps(official_values))


def _set(doc, path, value):
    *parents, last = path
    for part in parents:
        doc = doc[part]
    doc[last] = value


F = "Forget Set Results"
MALFORMED = [
    ((F, "classification", "Pure Text Question Accuracy"), 140.0, "out of range [0, 100]"),
    ((F, "generation", "Average ROUGE-L (Image_Textual)"), 57.08, "out of range [0, 1]"),
    ((F, "fill_in_the_blank", "pure_text_accuracy"), -1.0, "out of range"),
    ((F, "fill_in_the_blank", "pure_text_accuracy"), math.nan, "finite"),
    ((F, "fill_in_the_blank", "pure_text_accuracy"), math.inf, "finite"),
    ((F, "fill_in_the_blank", "pure_text_accuracy"), "8.7", "must be a number"),
    ((F, "fill_in_the_blank", "pure_text_accuracy"), True, "must be a number"),
    ((F, "generation", "Average ROUGE-L (Image_Textul)"), 0.5, "did you mean 'Average ROUGE-L (Image_Textual)'"),
    ((F, "clasification"), {"pure_text_accuracy": 1.0}, "did you mean 'classification'"),
    (("Forget Set Result",), {}, "did you mean 'Forget Set Results'"),
    ((F, "generation"), [0.5], "must be an object"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "words"), MALFORMED)
def test_malformed_upstream_file_is_refused_naming_the_field_and_store_unchanged(
    board, official_values, path, value, words
):
    field = ".".join(path)
    before = snapshot(board)
    doc = _fixture_doc(official_values)
    _set(doc, path, value)
    data = json.dumps(doc).encode()  # NaN / Infinity written as JSON tokens, as Python's json does
    with pytest.raises(ValidationFailed) as info:
        board.submit(data, metadata=UPSTREAM_METADATA)
    messages = {issue.field: issue.message for issue in info.value.issues}
    assert field in messages, messages
    assert words in messages[field]
    assert snapshot(board) == before


@pytest.mark.parametrize(
    ("data", "metadata", "field", "words"),
    [
        (b"", UPSTREAM_METADATA, "file", "empty"),
        (b"{}", UPSTREAM_METADATA, "file", "empty JSON object"),
        (b"[]", UPSTREAM_METADATA, "file", "JSON object"),
        (b'{"Forget Set Results": ', UPSTREAM_METADATA, "file", "not valid JSON"),
        (b'{"hello": 1}', UPSTREAM_METADATA, "file", "neither a submission file"),
        (b'{"Forget Set Results": {}}', UPSTREAM_METADATA, "file", "no result cells"),
        (None, {**UPSTREAM_METADATA, "forget_ratio": 20}, "metadata.forget_ratio", "5, 10 or 15"),
        (None, {**UPSTREAM_METADATA, "model_name": None}, "metadata.model_name", "--model-name"),
        (None, {**UPSTREAM_METADATA, "link": "javascript:alert(1)"}, "metadata.link", "http"),
        (None, {**UPSTREAM_METADATA, "modelname": "x"}, "metadata.modelname", "did you mean 'model_name'"),
        (None, {**UPSTREAM_METADATA, "unlearning_modality": "vision"}, "metadata.unlearning_modality", "multimodal"),
    ],
)
def test_malformed_inputs_are_refused_and_store_unchanged(board, official_fixture, data, metadata, field, words):
    before = snapshot(board)
    with pytest.raises(ValidationFailed) as info:
        board.submit(official_fixture.read_bytes() if data is None else data, metadata=metadata)
    messages = {issue.field: issue.message for issue in info.value.issues}
    assert field in messages, messages
    assert words in messages[field]
    assert snapshot(board) == before


def test_file_over_the_size_limit_is_refused(tmp_path, official_fixture):
    settings = LeaderboardSettings(db_path=tmp_path / "small.sqlite", max_file_bytes=200)
    with Leaderboard.open(settings) as small:
        before = snapshot(small)
        with pytest.raises(ValidationFailed, match="over the 200-byte limit"):
            small.submit(official_fixture.read_bytes(), metadata=UPSTREAM_METADATA)
        assert snapshot(small) == before


def test_metadata_overrides_a_submission_file_field_by_field():
    sub = make_submission(model_name="from-file", submitter="alice")
    parsed = parse_upload(dump_submission(sub).encode(), metadata={"submitter": "hf-user"})
    assert parsed.source_format is SourceFormat.SUBMISSION
    assert parsed.submission.metadata.model_name == "from-file"
    assert parsed.submission.metadata.submitter == "hf-user"
    assert parsed.submission.provenance == sub.provenance


# -- samples --------------------------------------------------------------------------------------


def _sample(eval_set, task, modality, scores, answer="x", i=0, parsed=True):
    return {
        "set": eval_set, "task": task, "modality": modality, "profile_id": f"{i:03d}", "question": f"q{i}",
        "reference": "A", "raw_output": answer, "answer": answer, "parsed": parsed, "scores": scores,
    }  # fmt: skip


def _jsonl(records):
    return ("\n".join(json.dumps(r) for r in records) + "\n").encode()


def _samples_submission():
    # 7 of 20 multiple-choice answers right (3 unparsed), ROUGE-L scores 0.0 .. 0.9 (one answer empty: a real
    # answer, not an unparsed one, as SampleRecord.parsed says).
    mc = [
        _sample("forget", "classification", "text", {"accuracy": float(i < 7)}, "" if i >= 17 else "B", i, i < 17)
        for i in range(20)
    ]
    gen = [_sample("forget", "generation", "text", {"rougeL": i / 10, "bleu": 0.0}, "words" if i else "", i)
           for i in range(10)]
    sub = make_submission(values={"forget/classification/text/accuracy": 35.0, "forget/generation/text/rougeL": 0.45})
    return sub, mc + gen


def test_samples_fill_counts_and_intervals():
    sub, records = _samples_submission()
    parsed = parse_upload(dump_submission(sub).encode(), samples=_jsonl(records))
    cells = {c.key.id: c for c in parsed.submission.cells}
    mc = cells["forget/classification/text/accuracy"]
    assert (mc.n, mc.n_unparsed, mc.ci_method) == (20, 3, "wilson")
    # Wilson 95 % for 7/20, computed by hand: centre 0.3742, half-width 0.1930.
    assert mc.ci_low == pytest.approx(18.12, abs=0.01) and mc.ci_high == pytest.approx(56.71, abs=0.01)
    gen = cells["forget/generation/text/rougeL"]
    assert gen.n == 10 and gen.n_unparsed == 0 and gen.ci_method == "bootstrap" and gen.ci_low < 0.45 < gen.ci_high
    assert gen.ci_high - gen.ci_low < 0.5
    assert any("bleu" in w for w in parsed.warnings)  # samples with no matching cell are reported, not added
    again = parse_upload(dump_submission(sub).encode(), samples=_jsonl(records))
    assert again.submission == parsed.submission  # deterministic bootstrap


def test_samples_that_disagree_with_the_cells_are_refused():
    sub, records = _samples_submission()
    records[0]["scores"]["accuracy"] = 0.0  # 6/20 = 30 % != 35 %
    with pytest.raises(ValidationFailed, match=r"cells\.forget/classification/text/accuracy: value 35\.0 disagrees"):
        parse_upload(dump_submission(sub).encode(), samples=_jsonl(records))


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda r: r.pop("scores"), "samples line 1", "missing key(s) scores"),
        (lambda r: r.update(set="forgett"), "samples line 1.set", "did you mean 'forget'"),
        (lambda r: r.update(scores={"acuracy": 1.0}), "samples line 1.scores.acuracy", "did you mean 'accuracy'"),
        (lambda r: r.update(scores={"accuracy": 2.0}), "samples line 1.scores.accuracy", "out of range"),
        (lambda r: r.update(scores={"accuracy": math.nan}), "samples line 1.scores.accuracy", "finite"),
        (lambda r: r.update(parsed="no"), "samples line 1.parsed", "must be true or false"),
    ],
)
def test_malformed_samples_are_refused(board, mutate, field, words):
    sub, records = _samples_submission()
    mutate(records[0])
    before = snapshot(board)
    with pytest.raises(ValidationFailed) as info:
        board.submit(dump_submission(sub).encode(), samples=_jsonl(records))
    messages = {issue.field: issue.message for issue in info.value.issues}
    assert field in messages, messages
    assert words in messages[field]
    assert snapshot(board) == before


def test_empty_samples_file_is_refused():
    sub, _ = _samples_submission()
    with pytest.raises(ValidationFailed, match="samples: is empty"):
        parse_upload(dump_submission(sub).encode(), samples=b"\n")


def test_accuracies_on_two_scales_are_refused(official_values):
    from leaderboard.ingest import parse_upload

    doc = json.loads(json.dumps(official_values))
    doc["Forget Set Results"]["classification"]["Pure Text Question Accuracy"] = 0.4667  # a fraction among percents
    with pytest.raises(ValidationFailed, match="accuracies mix two scales: 0.4667 here but") as info:
        parse_upload(json.dumps(doc).encode(), metadata=UPSTREAM_METADATA)
    assert info.value.issues[-1].field == "cells.forget/classification/text/accuracy"
    doc["Forget Set Results"]["classification"]["Pure Text Question Accuracy"] = 0.0  # zero is on every scale
    assert parse_upload(json.dumps(doc).encode(), metadata=UPSTREAM_METADATA).submission.cells
