"""Hostile result files get a refusal that names the field, never a crash: nesting, long integers, huge counts,
a free-form ``provenance.extra`` out of bounds, duplicate keys, empty files and invisible characters in metadata."""

from __future__ import annotations

import json
import unicodedata

import pytest

from benchmark.errors import ValidationFailed
from benchmark.submission import (
    MAX_COUNT,
    MAX_EXTRA_BYTES,
    MAX_EXTRA_DEPTH,
    MAX_SUBMISSION_BYTES,
    SubmissionMetadata,
    dump_submission,
    read_submission,
)
from benchmark.upstream import looks_upstream, parse_upstream
from benchmark.validation import (
    MAX_DOCUMENT_ISSUES,
    MAX_INT_DIGITS,
    MAX_JSON_DEPTH,
    json_depth,
    load_json_document,
    nesting_depth,
)

from ..conftest import make_submission


def _text(**changes: object) -> str:
    """A valid submission file with ``changes`` (``{"metadata.model_name": "x"}``) applied to its JSON."""
    doc = json.loads(dump_submission(make_submission()))
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return json.dumps(doc, ensure_ascii=False)


def _refusal(source: object) -> dict[str, str]:
    """The issues ``read_submission`` raises for ``source``, by field."""
    with pytest.raises(ValidationFailed) as info:
        read_submission(source)  # type: ignore[arg-type]
    return {issue.field: issue.message for issue in info.value.issues}


def _assert_refused(source: object, field: str, words: str) -> None:
    issues = _refusal(source)
    assert field in issues, issues
    assert words in issues[field], issues[field]


# -- valid files still parse --------------------------------------------------------------------


def test_valid_files_still_parse(official_fixture, data_dir):
    submission = make_submission(notes="line one\n\tline two")
    assert read_submission(dump_submission(submission)) == submission
    assert read_submission(data_dir / "submission_v1.json").metadata.submitter == "alice"
    upstream = load_json_document(official_fixture.read_bytes(), max_bytes=MAX_SUBMISSION_BYTES)
    assert looks_upstream(upstream) and parse_upstream(upstream)


def test_bom_and_escaped_brackets_are_fine():
    text = _text(**{"metadata.notes": 'brackets in text: [[[{{{ "]]]}}} \\'})
    assert read_submission(b"\xef\xbb\xbf" + text.encode()).metadata.notes.startswith("brackets in text")
    assert json_depth(text) == 3  # {"cells": [{...}]}


# -- 1. nesting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deep_nesting_is_refused_before_decoding(opener):
    closer = "]" if opener == "[" else "}"
    _assert_refused(opener * 1000 + "1" + closer * 1000, "file", "nests 1000 levels deep; at most 64 are allowed")


def test_nesting_limit_is_exact():
    assert json_depth("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) == MAX_JSON_DEPTH
    inner = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    # One level under the limit inside an object: decoded, then refused for its content, not its depth.
    _assert_refused('{"x": ' + inner + "}", "schema_version", "missing")
    _assert_refused('{"x": [' + inner + "]}", "file", f"nests {MAX_JSON_DEPTH + 1} levels deep")


def test_depth_scan_skips_strings_even_unterminated():
    assert json_depth('{"a": "[[[\\"{{{"}') == 1
    assert json_depth('["[[[') == 1
    _assert_refused('{"a": "[[[', "file", "not valid JSON")


# -- 2. long integers -----------------------------------------------------------------------------


def test_integer_of_thousands_of_digits_is_refused_with_its_path():
    text = _text().replace('"seed": 0', '"seed": ' + "9" * 5000)
    _assert_refused(text, "provenance.seed", f"is an integer with 5,000 digits; at most {MAX_INT_DIGITS} digits")


def test_integer_at_the_digit_limit_is_decoded():
    doc = load_json_document('{"a": -' + "9" * MAX_INT_DIGITS + "}", max_bytes=1000)
    assert doc["a"] == -int("9" * MAX_INT_DIGITS)
    with pytest.raises(ValidationFailed) as info:
        load_json_document('{"a": [1, ' + "1" * (MAX_INT_DIGITS + 1) + "]}", max_bytes=1000)
    assert info.value.issues[0].field == "a[1]"


# -- 3. counts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["n", "n_unparsed"])
def test_cell_counts_are_bounded(field):
    words = f"{2**63} is too large; a count is at most 1,000,000,000"
    _assert_refused(_text(**{f"cells.0.{field}": 2**63}), f"cells[0].{field}", words)
    assert read_submission(_text(**{"cells.0.n": MAX_COUNT, "cells.0.n_unparsed": 0})).cells[0].n == MAX_COUNT


def test_sample_counts_are_bounded():
    counts = {"forget/cloze/text": 2**63}
    _assert_refused(_text(**{"provenance.sample_counts": counts}), "provenance.sample_counts", "a count is at most")


# -- 4. provenance.extra ----------------------------------------------------------------------------


def test_deep_extra_is_refused():
    extra: dict[str, object] = {"leaf": 1}
    for _ in range(MAX_EXTRA_DEPTH):
        extra = {"x": extra}  # MAX_EXTRA_DEPTH + 1 levels
    _assert_refused(_text(**{"provenance.extra": extra}), "provenance.extra", "nests more than 8 levels deep")
    assert read_submission(_text(**{"provenance.extra": extra["x"]})).provenance is not None


def test_huge_extra_is_refused():
    extra = {"blob": "x" * MAX_EXTRA_BYTES}
    _assert_refused(_text(**{"provenance.extra": extra}), "provenance.extra", "over the 65,536-byte limit")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_extra_and_generation_are_refused(value):
    _assert_refused(_text(**{"provenance.extra": {"x": [value]}}), "provenance.extra", "must be plain JSON")
    _assert_refused(_text(**{"provenance.generation": {"t": value}}), "provenance.generation", "finite number")


def test_nesting_depth_stops_at_its_cap():
    assert nesting_depth(1, cap=5) == 0 and nesting_depth({}, cap=5) == 1 and nesting_depth({"a": [1]}, cap=5) == 2
    circular: list[object] = []
    circular.append(circular)
    assert nesting_depth(circular, cap=5) == 5


# -- 5. duplicate keys ------------------------------------------------------------------------------


def test_duplicate_keys_are_refused_with_their_path():
    text = _text().replace('"model_name": "demo-ga"', '"model_name": "demo-ga", "model_name": "other"')
    _assert_refused(text, "metadata.model_name", "duplicate key 'model_name': it appears 2 times in the same object")
    _assert_refused('{"schema_version": 2, "schema_version": 2}', "schema_version", "duplicate key")


def test_many_duplicates_are_reported_up_to_a_limit():
    text = "{" + ",".join(f'"k{i}": 1, "k{i}": 2' for i in range(100)) + "}"
    with pytest.raises(ValidationFailed) as info:
        load_json_document(text, max_bytes=MAX_SUBMISSION_BYTES)
    assert len(info.value.issues) == MAX_DOCUMENT_ISSUES


# -- 6. empty files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b" \n\t\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n", "  "])
def test_empty_files_say_so(payload):
    assert _refusal(payload) == {"file": "the file is empty"}


def test_text_with_lone_surrogates_is_refused_as_not_utf8():
    _assert_refused('{"a": "\ud800"}', "file", "not UTF-8")


# -- 7. invisible and control characters in metadata -----------------------------------------------

INVISIBLE = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]] + [
    chr(c) for c in [*range(0x200B, 0x200E), 0x2060, 0xFEFF]
]
TEXT_FIELDS = [
    "model_name",
    "base_model",
    "method",
    "submitter",
    "notes",
    "link",
    "hub_repo",
    "hub_revision",
    "protocol_version",
]


def _metadata(**changes: object) -> dict[str, object]:
    base = json.loads(dump_submission(make_submission()))["metadata"]
    base.update(hub_repo="alice/model", hub_revision="main", link="https://example.org/paper", notes="ok")
    return {**base, **changes}


def _metadata_refusal(**changes: object) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        read_submission(_text(metadata=_metadata(**changes)))
    return {issue.field: issue.message for issue in info.value.issues}


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_bidi_and_zero_width_characters_are_refused(char):
    issues = _metadata_refusal(model_name=f"evil{char}gpj.exe")
    name = unicodedata.name(char)
    assert issues == {
        "metadata.model_name": f"contains the invisible character U+{ord(char):04X} ({name}); remove it"
    }


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_every_text_field_is_checked(field):
    value = str(_metadata()[field])
    issues = _metadata_refusal(**{field: value[:2] + "\u202e" + value[2:]})
    message = "contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE); remove it"
    assert issues == {f"metadata.{field}": message}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("model_name", "a\nb", "control character U+000A; remove it"),
        ("submitter", "a\tb", "control character U+0009"),
        ("method", "GA\x1b[31m", "control character U+001B"),
        ("notes", "bell\x07", "control character U+0007"),
        ("notes", "crlf\r\n", "control character U+000D"),
        ("base_model", "a\u2028b", "invisible character U+2028 (LINE SEPARATOR)"),
    ],
)
def test_control_characters_are_refused(field, value, words):
    assert words in _metadata_refusal(**{field: value})[f"metadata.{field}"]


def test_notes_may_hold_newlines_and_tabs_and_names_are_stripped():
    meta = SubmissionMetadata.model_validate(
        _metadata(model_name="  spaced  ", submitter="\talice\n", method=" GA ", notes="a\n\tb\n")
    )
    assert (meta.model_name, meta.submitter, meta.method, meta.notes) == ("spaced", "alice", "GA", "a\n\tb\n")
    assert "at least 1 character" in _metadata_refusal(model_name="   ")["metadata.model_name"]
