"""Ingestion: any accepted result file (plus optional samples and metadata) -> one validated submission.

Accepted inputs:

* **Upstream** ``*_final_evaluation_results.json`` (spec section 5, read by
  :func:`benchmark.upstream.parse_upstream`): any subset of the four sets and
  three tasks, both key styles. Every number present becomes a
  :class:`~benchmark.submission.Cell`; nothing absent is invented (a partial
  file gives a partial row). Upstream files carry no metadata, so it comes from
  the caller (CLI flags or the submit form).
* **Our submission file** (:mod:`benchmark.submission`, any supported version).
  Metadata given by the caller overrides the file's, field by field.
* Optionally **samples** (``<run>.samples.jsonl``, one JSON object per question
  with ``set``, ``task``, ``modality``, ``profile_id``, ``question``,
  ``reference``, ``raw_output``, ``answer`` and ``scores``, a mapping metric ->
  per-question score in [0, 1], and optionally ``parsed``, false when the
  extractor read no answer). For every cell they cover, they fill ``n``,
  ``n_unparsed`` (records with ``parsed`` false, as
  :class:`benchmark.records.SampleRecord` counts them) and a 95 % confidence
  interval (:mod:`leaderboard.stats`), and they must agree with the cell's value
  (within :data:`AGREEMENT_TOLERANCE`).

:func:`parse_upload` does all of this without side effects and raises
:class:`~benchmark.errors.ValidationFailed` with every problem found, so a
caller can preview the result before storing it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from benchmark.errors import FieldIssue, ValidationFailed
from benchmark.metrics import Unit, metric_units
from benchmark.submission import (
    MAX_SUBMISSION_BYTES,
    Cell,
    Submission,
    SubmissionMetadata,
    UnlearningModality,
    read_submission,
)
from benchmark.upstream import UPSTREAM_PROTOCOL_VERSION, UPSTREAM_SET_KEYS, looks_upstream, parse_upstream
from benchmark.validation import issues_from_pydantic, load_json_document, nearest, unknown_key_message
from benchmark.vocabulary import EvalSet, Modality, Protocol, Task
from leaderboard.stats import mean_interval

MAX_SAMPLES_BYTES = 64 * 1024 * 1024
"""Default size limit of a samples file (a full four-set run is about 10-20 MiB)."""

AGREEMENT_TOLERANCE = 1e-6
"""Largest allowed difference, on the 0-1 scale, between a cell and the mean of its samples."""

class SourceFormat(StrEnum):
    """Where a stored submission came from."""

    UPSTREAM = "upstream"
    """An upstream ``*_final_evaluation_results.json``."""
    SUBMISSION = "submission"
    """Our versioned submission file."""
    REFERENCE = "reference"
    """A community-reported reference row (see :mod:`leaderboard.references`)."""


class MetadataOverrides(BaseModel):
    """Metadata supplied beside the file (CLI flags, submit form); ``None`` means "not given"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str | None = None
    hub_repo: str | None = None
    hub_revision: str | None = None
    base_model: str | None = None
    method: str | None = None
    forget_ratio: int | None = None
    unlearning_modality: UnlearningModality | None = None
    protocol: Protocol | None = None
    protocol_version: str | None = None
    submitter: str | None = None
    link: str | None = None
    notes: str | None = None

    def given(self) -> dict[str, Any]:
        """Only the fields that were given."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


_FLAGS = {
    "model_name": "--model-name",
    "base_model": "--base-model",
    "method": "--method",
    "forget_ratio": "--forget-ratio",
    "submitter": "--submitter",
}


@dataclass(frozen=True)
class ParsedUpload:
    """A validated upload, ready to be previewed or stored; nothing has been written yet."""

    submission: Submission
    """The canonical submission (metadata merged, cells with intervals where samples allowed)."""
    source_format: SourceFormat
    """upstream or submission."""
    raw: bytes
    """The uploaded results file, verbatim."""
    content_hash: str
    """SHA-256 of the results file's JSON content (key order and whitespace do not matter)."""
    filename: str | None = None
    """The uploaded file's name, if known."""
    samples_raw: bytes | None = None
    """The uploaded samples file, verbatim, if any."""
    warnings: tuple[str, ...] = field(default=())
    """Things worth telling the submitter that did not block ingestion."""


# -- samples --------------------------------------------------------------------------------------

_SAMPLE_KEYS = ("set", "task", "modality", "profile_id", "question", "reference", "raw_output", "answer", "scores")


@dataclass
class _Group:
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unparsed: int = 0
    n: int = 0


def _read_samples(data: bytes, *, max_bytes: int) -> dict[tuple[EvalSet, Task, Modality], _Group]:
    """Group per-sample scores by (set, task, modality), validating every record."""
    if len(data) > max_bytes:
        raise ValidationFailed(
            [FieldIssue("samples", f"is {len(data):,} bytes, over the {max_bytes:,}-byte limit")], source="samples"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed([FieldIssue("samples", f"is not UTF-8 text ({exc.reason})")], source="samples") from None
    groups: dict[tuple[EvalSet, Task, Modality], _Group] = defaultdict(_Group)
    issues: list[FieldIssue] = []
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise ValidationFailed([FieldIssue("samples", "is empty")], source="samples")
    for lineno, line in lines:
        if len(issues) >= 20:
            issues.append(FieldIssue("samples", "too many problems; stopped checking"))
            break
        where = f"samples line {lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(FieldIssue(where, f"is not valid JSON: {exc.msg}"))
            continue
        if not isinstance(record, dict):
            issues.append(FieldIssue(where, "must be a JSON object"))
            continue
        missing = [k for k in _SAMPLE_KEYS if k not in record]
        if missing:
            issues.append(FieldIssue(where, f"missing key(s) {', '.join(missing)}"))
            continue
        try:
            key = (EvalSet(record["set"]), Task(record["task"]), Modality(record["modality"]))
        except ValueError:
            bad = next(
                (n, record[n], enum)
                for n, enum in (("set", EvalSet), ("task", Task), ("modality", Modality))
                if record[n] not in {e.value for e in enum}
            )
            issues.append(
                FieldIssue(
                    f"{where}.{bad[0]}", unknown_key_message(str(bad[1]), [e.value for e in bad[2]], what="value")
                )
            )
            continue
        scores = record["scores"]
        if not isinstance(scores, dict) or not scores:
            issues.append(FieldIssue(f"{where}.scores", "must be a non-empty object metric -> score"))
            continue
        parsed = record.get("parsed", True)
        if not isinstance(parsed, bool):
            issues.append(FieldIssue(f"{where}.parsed", f"must be true or false, got {parsed!r:.40}"))
            continue
        group = groups[key]
        group.n += 1
        group.unparsed += not parsed
        for metric, value in scores.items():
            if metric not in metric_units(key[1]):
                issues.append(
                    FieldIssue(
                        f"{where}.scores.{metric}",
                        unknown_key_message(metric, metric_units(key[1]), what=f"{key[1].value} metric"),
                    )
                )
                continue
            problem = Unit.FRACTION.problem(value, "per-question scores are 0-1")
            if problem:
                issues.append(FieldIssue(f"{where}.scores.{metric}", problem))
                continue
            group.values[metric].append(float(value))
    if issues:
        raise ValidationFailed(issues, source="samples")
    return dict(groups)


def attach_samples(
    cells: list[Cell], samples: bytes, *, max_bytes: int = MAX_SAMPLES_BYTES
) -> tuple[list[Cell], list[str]]:
    """Fill ``n``, ``n_unparsed`` and confidence intervals of ``cells`` from a samples file.

    Values the file already gives are kept; the samples' mean must agree with each cell's value.

    Returns:
        The updated cells (same order) and warnings (sample groups with no matching cell).

    Raises:
        ValidationFailed: Malformed records, or a cell that disagrees with its samples.
    """
    groups = _read_samples(samples, max_bytes=max_bytes)
    issues: list[FieldIssue] = []
    out: list[Cell] = []
    used: set[tuple[EvalSet, Task, Modality, str]] = set()
    for cell in cells:
        group = groups.get((cell.set, cell.task, cell.modality))
        values = group.values.get(cell.metric) if group else None
        if not group or not values:
            out.append(cell)
            continue
        used.add((cell.set, cell.task, cell.modality, cell.metric))
        scale = 100.0 if cell.unit is Unit.PERCENT else 1.0
        mean = sum(values) / len(values)
        if abs(mean - cell.value / scale) > AGREEMENT_TOLERANCE:
            issues.append(
                FieldIssue(
                    f"cells.{cell.key.id}",
                    f"value {cell.value!r} disagrees with the mean of its {len(values)} samples ({mean * scale!r})",
                )
            )
            continue
        if cell.n is not None and cell.n != len(values):
            issues.append(FieldIssue(f"cells.{cell.key.id}.n", f"is {cell.n} but the samples have {len(values)}"))
            continue
        interval = mean_interval(values, level=cell.ci_level)
        update: dict[str, Any] = {"n": len(values)}
        if cell.n_unparsed is None:
            update["n_unparsed"] = min(group.unparsed, len(values))
        if cell.ci_low is None:
            update |= {"ci_low": interval.low * scale, "ci_high": interval.high * scale, "ci_method": interval.method}
        out.append(cell.model_copy(update=update))
    if issues:
        raise ValidationFailed(issues, source="samples")
    warnings = [
        f"samples cover {s.value}/{t.value}/{m.value}/{metric} but the results have no such cell; ignored"
        for (s, t, m), group in groups.items()
        for metric in group.values
        if (s, t, m, metric) not in used
    ]
    return out, warnings


# -- the whole upload ------------------------------------------------------------------------------


def content_hash(doc: Mapping[str, Any]) -> str:
    """SHA-256 of a JSON document's canonical form (sorted keys, no whitespace, floats as ``repr``)."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _merge_metadata(
    base: Mapping[str, Any], overrides: MetadataOverrides, *, upstream: bool
) -> tuple[SubmissionMetadata | None, list[FieldIssue]]:
    merged = {**base, **overrides.given()}
    if upstream:
        merged.setdefault("protocol", Protocol.OFFICIAL)
        merged.setdefault("protocol_version", UPSTREAM_PROTOCOL_VERSION)
    try:
        return SubmissionMetadata.model_validate(merged), []
    except ValidationError as exc:
        issues = issues_from_pydantic(exc, SubmissionMetadata, prefix="metadata")
        fixed = []
        for issue in issues:
            name = issue.field.removeprefix("metadata.")
            if issue.message == "required field is missing" and name in _FLAGS:
                what = "an upstream results file" if upstream else "this submission"
                issue = FieldIssue(issue.field, f"required for {what} (give {_FLAGS[name]} or fill the form)")
            fixed.append(issue)
        return None, fixed


def parse_upload(
    data: bytes,
    *,
    filename: str | None = None,
    samples: bytes | None = None,
    metadata: MetadataOverrides | Mapping[str, Any] | None = None,
    accuracy_unit: Unit = Unit.PERCENT,
    max_bytes: int = MAX_SUBMISSION_BYTES,
    max_samples_bytes: int = MAX_SAMPLES_BYTES,
) -> ParsedUpload:
    """Validate an uploaded results file (upstream or ours) with optional samples and metadata.

    Args:
        data: The results file's bytes, verbatim.
        filename: Its name, kept for display.
        samples: An optional ``samples.jsonl`` for counts and confidence intervals.
        metadata: Metadata from the caller; required fields for upstream files, overrides for ours.
        accuracy_unit: Scale of accuracies in an upstream file (percent, as upstream writes them).
        max_bytes: Size limit of the results file.
        max_samples_bytes: Size limit of the samples file.

    Returns:
        The parsed upload; nothing is stored.

    Raises:
        ValidationFailed: With every problem found, each naming its field.
    """
    overrides = metadata if isinstance(metadata, MetadataOverrides) else _overrides(metadata or {})
    doc = load_json_document(data, max_bytes=max_bytes)
    if "schema_version" in doc:
        fmt = SourceFormat.SUBMISSION
        parsed = read_submission(doc)
        meta, issues = _merge_metadata(parsed.metadata.model_dump(), overrides, upstream=False)
        cells = list(parsed.cells)
        provenance = parsed.provenance
    elif looks_upstream(doc):
        fmt = SourceFormat.UPSTREAM
        cell_issues: list[FieldIssue] = []
        try:
            cells = parse_upstream(doc, accuracy_unit=accuracy_unit)
        except ValidationFailed as exc:
            cells, cell_issues = [], list(exc.issues)
        meta, issues = _merge_metadata({}, overrides, upstream=True)
        issues = cell_issues + issues
        provenance = None
    else:
        keys = ", ".join(repr(k) for k in list(doc)[:5])
        hint = nearest(next(iter(doc)), UPSTREAM_SET_KEYS.values())
        message = (
            "is neither a submission file (no 'schema_version') nor an upstream results file "
            f"(no key like 'Forget Set Results'); top-level keys: {keys}"
        )
        if hint:
            message += f"; did you mean {hint!r}?"
        raise ValidationFailed([FieldIssue("file", message)])
    mixed = mixed_scales(cells)
    if mixed is not None:
        issues.append(mixed)
    if issues or meta is None:
        raise ValidationFailed(issues)
    warnings: list[str] = []
    if samples is not None:
        cells, warnings = attach_samples(cells, samples, max_bytes=max_samples_bytes)
    try:
        submission = Submission(metadata=meta, provenance=provenance, cells=tuple(cells))
    except ValidationError as exc:
        raise ValidationFailed(issues_from_pydantic(exc, Submission)) from None
    return ParsedUpload(
        submission=submission,
        source_format=fmt,
        raw=data,
        content_hash=content_hash(doc),
        filename=filename,
        samples_raw=samples,
        warnings=tuple(warnings),
    )


def mixed_scales(cells: list[Cell]) -> FieldIssue | None:
    """A problem when the accuracies mix the 0-1 and 0-100 scales (some above 1, others strictly between 0 and 1).

    On the percent scale an accuracy between 0 and 1 would mean fewer than 1 question in 100 answered right on
    a set that answers others at over 1 %: far likelier a fraction written among percentages.
    """
    accuracies = [c for c in cells if c.unit is Unit.PERCENT]
    high = [c for c in accuracies if c.value > 1]
    low = [c for c in accuracies if 0 < c.value < 1]
    if not high or not low:
        return None
    return FieldIssue(
        f"cells.{low[0].key.id}",
        f"accuracies mix two scales: {low[0].value:g} here but {high[0].value:g} in {high[0].key.id}. Write every "
        "accuracy on one scale (upstream eval.py writes percentages, 0-100; for a file of fractions choose "
        "'fraction' as the accuracy scale)",
    )


def _overrides(values: Mapping[str, Any]) -> MetadataOverrides:
    try:
        return MetadataOverrides.model_validate(dict(values))
    except ValidationError as exc:
        raise ValidationFailed(issues_from_pydantic(exc, MetadataOverrides, prefix="metadata")) from None
