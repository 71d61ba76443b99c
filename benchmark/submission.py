"""Our versioned submission file: what an evaluation run hands to the leaderboard.

The evaluation engine (``probes.evaluate``) builds a :class:`Submission` and
writes it with :func:`write_submission` as ``<run>.submission.json``; the
leaderboard reads any version with :func:`read_submission`. Layout (version 2)::

    {"schema_version": 2,
     "metadata":   {"model_name": ..., "base_model": ..., "method": ..., "forget_ratio": 5,
                    "unlearning_modality": "multimodal", "protocol": "official",
                    "protocol_version": "1", "submitter": ..., ...},
     "provenance": {"model_id": ..., "model_revision": ..., "seed": 0, ...},
     "cells": [{"set": "forget", "task": "classification", "modality": "image_text",
                "metric": "accuracy", "value": 49.17, "unit": "percent", "n": 120,
                "n_unparsed": 3, "ci_low": 40.4, "ci_high": 58.0, "ci_method": "wilson"}, ...]}

One *cell* is one number: evaluation set x task x modality x metric (the
protocol is the submission's). Canonical metric names and units
(:mod:`benchmark.metrics`):

========================  ===================================  ==================
task                      metrics                              unit
========================  ===================================  ==================
classification, cloze     ``accuracy``                         percent, 0-100
generation                ``rouge1 rouge2 rougeL bleu``        fraction, 0-1
========================  ===================================  ==================

A metric measures remaining *knowledge*; whether more is better depends on the
set (:attr:`~benchmark.vocabulary.EvalSet.lower_is_better`): forget and test lower, retain and celebrity
higher. Missing cells are simply absent: a partial result is still a result.

Versions: the reader migrates every older version to :data:`SCHEMA_VERSION`
(:data:`MIGRATIONS`) and refuses newer ones with
:class:`~benchmark.errors.UnsupportedSchemaVersion`. Version 1 was the
pre-release draft (one nested ``results`` mapping, no units, counts or
intervals); it is kept readable so that the migration path is exercised.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from benchmark.errors import FieldIssue, UnsupportedSchemaVersion, ValidationFailed
from benchmark.files import atomic_write
from benchmark.metrics import CellKey, Unit, metric_units
from benchmark.validation import (
    issues_from_pydantic,
    load_json_document,
    nesting_depth,
    refused_character,
    unknown_key_message,
)
from benchmark.vocabulary import FORGET_RATIOS, EvalSet, Modality, Protocol, Task

SCHEMA_VERSION = 2
"""The version :func:`write_submission` writes and every reader upgrades to."""

MAX_SUBMISSION_BYTES = 5 * 1024 * 1024
"""Default size limit of a submission or upstream result file (5 MiB; real ones are a few KiB)."""

MAX_COUNT = 10**9
"""Largest question count a cell (``n``, ``n_unparsed``) or ``provenance.sample_counts`` may report.

No MLLMU-Bench set has more than a few thousand questions; the bound also keeps counts far below
SQLite's INTEGER limit (2**63 - 1).
"""

MAX_EXTRA_DEPTH = 8
"""Deepest nesting of lists and objects in ``provenance.extra``, the object itself counting as one level."""

MAX_EXTRA_BYTES = 64 * 1024
"""Largest size of ``provenance.extra`` written as compact UTF-8 JSON (64 KiB)."""

StrictStr = Annotated[str, Field(strict=True)]
StrictInt = Annotated[int, Field(strict=True)]
StrictFloat = Annotated[float, Field(strict=True)]


class UnlearningModality(StrEnum):
    """Which inputs the unlearning method was applied to."""

    MULTIMODAL = "multimodal"
    """Image+text forget data (the portrait is in the unlearning batches)."""
    TEXT = "text"
    """Text-only forget data ("unimodal" in the paper)."""
    NONE = "none"
    """No unlearning at all: the vanilla (fine-tuned) model or a base model."""


CiMethod = Literal["wilson", "bootstrap", "normal"]
"""How a cell's confidence interval was computed (see ``leaderboard.stats``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=False)


class Cell(_Model):
    """One reported number: set x task x modality x metric, on the metric's declared unit.

    ``unit`` may be omitted on input (it is filled from the metric); when given it
    must be the metric's canonical unit, so a fraction is never read as a percentage.
    """

    set: EvalSet = Field(description="Evaluation set: forget, test, retain or celebrity.")
    task: Task = Field(description="Task: classification, generation or cloze.")
    modality: Modality = Field(description="image_text (asked with the portrait) or text (asked by name).")
    metric: StrictStr = Field(description="Canonical metric name: accuracy, rouge1, rouge2, rougeL or bleu.")
    unit: Unit = Field(description="percent (0-100) for accuracy, fraction (0-1) for ROUGE and BLEU.")
    value: StrictFloat = Field(description="The aggregate over the cell's questions, on `unit`'s scale.")
    n: StrictInt | None = Field(default=None, ge=0, description="Number of questions behind the value.")
    n_unparsed: StrictInt | None = Field(
        default=None, ge=0, description="Answers the extractor could not parse (counted as wrong, not skipped)."
    )
    ci_low: StrictFloat | None = Field(default=None, description="Lower bound of the confidence interval.")
    ci_high: StrictFloat | None = Field(default=None, description="Upper bound of the confidence interval.")
    ci_level: StrictFloat = Field(default=0.95, gt=0, lt=1, description="Coverage of the interval.")
    ci_method: CiMethod | None = Field(default=None, description="wilson, bootstrap or normal.")

    @model_validator(mode="before")
    @classmethod
    def _fill_unit(cls, data: Any) -> Any:
        if isinstance(data, dict) and "unit" not in data:
            task, metric = data.get("task"), data.get("metric")
            if isinstance(task, str) and task in set(Task) and isinstance(metric, str):
                unit = metric_units(Task(task)).get(metric)
                if unit is not None:
                    return {**data, "unit": unit}
        return data

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str, info: ValidationInfo) -> str:
        task = info.data.get("task")
        if isinstance(task, Task) and metric not in metric_units(task):
            raise ValueError(unknown_key_message(metric, metric_units(task), what=f"{task.value} metric"))
        return metric

    @field_validator("unit")
    @classmethod
    def _canonical_unit(cls, unit: Unit, info: ValidationInfo) -> Unit:
        task, metric = info.data.get("task"), info.data.get("metric")
        if isinstance(task, Task) and metric in metric_units(task):
            expected = metric_units(task)[metric]
            if unit is not expected:
                factor = "multiply by 100" if expected is Unit.PERCENT else "divide by 100"
                raise ValueError(f"{task.value} {metric} is reported in {expected.value}; convert ({factor})")
        return unit

    @field_validator("value", "ci_low", "ci_high")
    @classmethod
    def _finite_in_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        unit = info.data.get("unit")
        if isinstance(unit, Unit):
            low, high = unit.bounds
            if not low <= value <= high:
                looks_percent = unit is Unit.FRACTION and value <= 100
                hint = " (looks like a percentage; ROUGE/BLEU are 0-1)" if looks_percent else ""
                raise ValueError(f"{value} is out of range [{low:g}, {high:g}] for unit {unit.value}{hint}")
        return value

    @field_validator("n", "n_unparsed")
    @classmethod
    def _plausible_count(cls, count: int | None) -> int | None:
        if count is not None and count > MAX_COUNT:
            raise ValueError(f"{count} is too large; a count is at most {MAX_COUNT:,}")
        return count

    @model_validator(mode="after")
    def _consistent(self) -> Cell:
        if self.n is not None and self.n_unparsed is not None and self.n_unparsed > self.n:
            raise ValueError(f"n_unparsed ({self.n_unparsed}) exceeds n ({self.n})")
        if (self.ci_low is None) != (self.ci_high is None):
            raise ValueError("give both ci_low and ci_high, or neither")
        if self.ci_low is not None and self.ci_high is not None and self.ci_low > self.ci_high:
            raise ValueError(f"ci_low ({self.ci_low}) is above ci_high ({self.ci_high})")
        return self

    @property
    def key(self) -> CellKey:
        """This cell's coordinates."""
        return CellKey(self.set, self.task, self.modality, self.metric)


TEXT_FIELDS = (
    "model_name",
    "base_model",
    "method",
    "submitter",
    "notes",
    "link",
    "hub_repo",
    "hub_revision",
    "protocol_version",
)
"""The metadata fields of free text, checked for control and invisible characters."""


class SubmissionMetadata(_Model):
    """Who and what a result is about; shown in the table and filtered on."""

    model_name: StrictStr = Field(min_length=1, max_length=200, description="Display name of the evaluated model.")
    hub_repo: StrictStr | None = Field(default=None, max_length=200, description="Hub repo id, 'owner/name'.")
    hub_revision: StrictStr | None = Field(default=None, max_length=100, description="Hub revision (commit/tag).")
    base_model: StrictStr = Field(
        min_length=1, max_length=200, description="The base model, e.g. 'llava-hf/llava-1.5-7b-hf'."
    )
    method: StrictStr = Field(
        min_length=1, max_length=100, description="Unlearning method: 'vanilla' for no unlearning, 'GA', 'NPO', ..."
    )
    forget_ratio: Literal[5, 10, 15] = Field(description="Forget split, percent of fictitious profiles: 5, 10 or 15.")
    unlearning_modality: UnlearningModality | None = Field(
        default=None, description="multimodal, text or none (vanilla); null when not reported."
    )
    protocol: Protocol = Field(description="official or strict.")
    protocol_version: StrictStr = Field(
        min_length=1, max_length=40, description="Version of the protocol; 'upstream' for upstream eval.py itself."
    )
    submitter: StrictStr = Field(min_length=1, max_length=100, description="Who submitted (name or Hub user).")
    link: StrictStr | None = Field(default=None, max_length=500, description="Paper or code URL (http or https).")
    notes: StrictStr = Field(default="", max_length=2000, description="Free text; stored raw, escaped when shown.")

    @field_validator("model_name", "base_model", "method", "submitter", mode="before")
    @classmethod
    def _strip_surrounding_whitespace(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator(*TEXT_FIELDS)
    @classmethod
    def _visible_characters(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Refuse control and invisible characters (bidi overrides, zero-width spaces); notes may break lines."""
        if value is not None:
            problem = refused_character(value, allow="\n\t" if info.field_name == "notes" else "")
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("hub_repo")
    @classmethod
    def _repo_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        try:
            if "/" not in value:
                raise HFValidationError("it has no owner")
            validate_repo_id(value)
        except HFValidationError as exc:
            raise ValueError(f"{value!r} is not a Hub repo id of the form 'owner/name' ({exc})") from None
        return value

    @field_validator("link")
    @classmethod
    def _http_link(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s<>\"']+$", value):
            raise ValueError("must be an http:// or https:// URL without spaces or quotes")
        return value


JsonScalar = str | int | float | bool | None


class Provenance(_Model):
    """Everything needed to reproduce a result; written by the evaluation engine, absent for upstream files."""

    model_id: StrictStr = Field(min_length=1, description="What was loaded: a Hub id, a local path or 'demo'.")
    model_revision: StrictStr | None = Field(default=None, description="Resolved Hub commit of the model.")
    base_model: StrictStr | None = Field(default=None, description="The base model the checkpoint derives from.")
    quantization: StrictStr = Field(default="none", description="'none', '4bit', '8bit', ...")
    dtype: StrictStr | None = Field(default=None, description="Compute dtype, e.g. 'bfloat16'.")
    generation: dict[str, JsonScalar] = Field(
        default_factory=dict, description="Generation settings, e.g. {'do_sample': false, 'max_new_tokens': 50}."
    )
    protocol: Protocol = Field(description="official or strict; must equal metadata.protocol.")
    protocol_version: StrictStr = Field(min_length=1, description="Version of the protocol implementation.")
    seed: StrictInt | None = Field(default=None, description="Random seed (null: unseeded, as upstream).")
    dataset: StrictStr | None = Field(default=None, description="Dataset source: 'demo', a path or a Hub id.")
    dataset_revision: StrictStr | None = Field(default=None, description="Resolved Hub commit of the dataset.")
    dataset_fingerprint: StrictStr | None = Field(default=None, description="Content hash of the dataset files.")
    package_versions: dict[str, str] = Field(
        default_factory=dict, description="Versions of the packages that matter (torch, transformers, ...)."
    )
    git_commit: StrictStr | None = Field(default=None, description="Commit of this toolkit that produced the run.")
    sample_counts: dict[str, StrictInt] = Field(
        default_factory=dict, description="Questions evaluated per 'set/task/modality' (e.g. 'forget/cloze/text')."
    )
    created_at: datetime | None = Field(default=None, description="When the run finished (ISO 8601).")
    extra: dict[str, Any] = Field(default_factory=dict, description="Anything else worth recording (free-form).")

    @field_validator("sample_counts")
    @classmethod
    def _count_keys(cls, counts: dict[str, int]) -> dict[str, int]:
        valid = [f"{s.value}/{t.value}/{m.value}" for s in EvalSet for t in Task for m in Modality]
        for key, value in counts.items():
            if key not in valid:
                raise ValueError(unknown_key_message(key, valid, what="sample_counts key"))
            if value < 0:
                raise ValueError(f"sample_counts[{key!r}] is negative ({value})")
            if value > MAX_COUNT:
                raise ValueError(f"sample_counts[{key!r}] is {value}, too large; a count is at most {MAX_COUNT:,}")
        return counts

    @field_validator("generation")
    @classmethod
    def _finite_generation(cls, generation: dict[str, JsonScalar]) -> dict[str, JsonScalar]:
        for key, value in generation.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"generation[{key!r}] must be a finite number, got {value}")
        return generation

    @field_validator("extra")
    @classmethod
    def _bounded_extra(cls, extra: dict[str, Any]) -> dict[str, Any]:
        """Refuse an ``extra`` that is nested too deep, too large or not plain JSON (it is stored as JSON)."""
        if nesting_depth(extra, cap=MAX_EXTRA_DEPTH + 1) > MAX_EXTRA_DEPTH:
            raise ValueError(f"nests more than {MAX_EXTRA_DEPTH} levels deep; at most {MAX_EXTRA_DEPTH} are allowed")
        try:
            text = json.dumps(extra, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            size = len(text.encode("utf-8"))
        except (TypeError, ValueError) as exc:
            what = "text, finite numbers, true, false, null, lists and objects"
            raise ValueError(f"must be plain JSON ({what}): {exc}") from None
        if size > MAX_EXTRA_BYTES:
            raise ValueError(f"is {size:,} bytes as JSON, over the {MAX_EXTRA_BYTES:,}-byte limit")
        return extra


UPSTREAM_DTYPES = ("float16", "float32")
"""Unquantized dtypes that count as upstream's precision: eval.py loads float16 on CUDA; float32 (CPU) is finer."""


def precision_variant(provenance: Provenance | None) -> str | None:
    """How a result's precision differs from upstream eval.py's (unquantized float16), or ``None`` when it does not.

    ``4-bit nf4``, ``8-bit`` or a dtype such as ``bfloat16``; the leaderboard marks such rows, so that an
    official result at another precision is a visible variant, never mistaken for upstream's numbers.
    """
    if provenance is None:
        return None
    quantization = provenance.quantization.lower()
    if quantization.startswith("4bit"):
        return "4-bit nf4" if "nf4" in quantization else "4-bit"
    if quantization.startswith("8bit"):
        return "8-bit"
    if quantization not in ("none", ""):
        return provenance.quantization
    if provenance.dtype is not None and provenance.dtype not in UPSTREAM_DTYPES:
        return provenance.dtype
    return None


class Submission(_Model):
    """A versioned result file: metadata, provenance and result cells (schema version 2)."""

    schema_version: Literal[2] = Field(default=2, description="Version of this file layout.")
    metadata: SubmissionMetadata = Field(description="Who and what the result is about.")
    provenance: Provenance | None = Field(default=None, description="How it was produced; null for upstream files.")
    cells: tuple[Cell, ...] = Field(description="The reported numbers; any subset of the possible cells, at least one.")

    @field_validator("cells")
    @classmethod
    def _cells_present_and_unique(cls, cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
        if not cells:
            raise ValueError("is empty; a submission needs at least one result cell")
        seen: dict[CellKey, int] = {}
        for index, cell in enumerate(cells):
            if cell.key in seen:
                raise ValueError(f"cells[{index}] repeats cell {cell.key.id} (first at cells[{seen[cell.key]}])")
            seen[cell.key] = index
        return cells

    @model_validator(mode="after")
    def _same_protocol(self) -> Submission:
        if self.provenance is not None and self.provenance.protocol is not self.metadata.protocol:
            raise ValueError(
                f"provenance.protocol ({self.provenance.protocol.value}) differs from "
                f"metadata.protocol ({self.metadata.protocol.value})"
            )
        return self

    def cell_map(self) -> dict[CellKey, Cell]:
        """The cells by key."""
        return {cell.key: cell for cell in self.cells}

    def value(self, key: CellKey | str) -> float | None:
        """The value of one cell, or ``None`` when it was not reported."""
        key = CellKey.parse(key) if isinstance(key, str) else key
        cell = self.cell_map().get(key)
        return None if cell is None else cell.value


# -- versions -----------------------------------------------------------------


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (draft): ``model`` + top-level protocol + nested ``results`` -> version 2."""
    out: dict[str, Any] = {k: v for k, v in doc.items() if k not in ("schema_version", "model", "results")}
    model = doc.get("model")
    if isinstance(model, dict):
        metadata = {
            ("model_name" if k == "name" else "hub_revision" if k == "revision" else k): v for k, v in model.items()
        }
        for key in ("protocol", "protocol_version"):
            if key in out:
                metadata[key] = out.pop(key)
        out["metadata"] = metadata
    elif model is not None:
        out["metadata"] = model
    provenance = out.get("provenance")
    if isinstance(provenance, dict):
        provenance = {("model_revision" if k == "revision" else k): v for k, v in provenance.items()}
        if isinstance(out.get("metadata"), dict):
            for key in ("protocol", "protocol_version"):
                provenance.setdefault(key, out["metadata"].get(key))
        out["provenance"] = provenance
    results = doc.get("results")
    cells: list[Any] = []
    if isinstance(results, dict):
        for eval_set, tasks in results.items():
            for task, modalities in (tasks or {}).items() if isinstance(tasks, dict) else []:
                for modality, metrics in (modalities or {}).items() if isinstance(modalities, dict) else []:
                    for metric, value in (metrics or {}).items() if isinstance(metrics, dict) else []:
                        cells.append(
                            {"set": eval_set, "task": task, "modality": modality, "metric": metric, "value": value}
                        )
    out["cells"] = cells
    out["schema_version"] = 2
    return out


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}
"""``MIGRATIONS[v]`` upgrades a version-``v`` document (a plain dict) to version ``v + 1``."""


def migrate(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Upgrade a submission document of any supported version to :data:`SCHEMA_VERSION`.

    Raises:
        UnsupportedSchemaVersion: ``schema_version`` is missing, not an integer, or newer than supported.
    """
    if "schema_version" not in doc:
        raise ValidationFailed([FieldIssue("schema_version", "required field is missing (expected the first key)")])
    version = doc["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= SCHEMA_VERSION:
        raise UnsupportedSchemaVersion(version, SCHEMA_VERSION)
    current = dict(doc)
    while current["schema_version"] < SCHEMA_VERSION:
        current = MIGRATIONS[current["schema_version"]](current)
    return current


def read_submission(
    source: bytes | str | Path | Mapping[str, Any], *, max_bytes: int = MAX_SUBMISSION_BYTES
) -> Submission:
    """Read, migrate and validate a submission file.

    Args:
        source: The file's bytes or text, a path to it, or an already decoded JSON object.
        max_bytes: Size limit for bytes, text and paths.

    Returns:
        The validated submission, at the current schema version.

    Raises:
        ValidationFailed: With one field-level issue per problem (empty file, bad JSON, unknown keys
            with a nearest-name suggestion, wrong types, out-of-range or non-finite values, ...).
        UnsupportedSchemaVersion: The file is from a newer (or unknown) schema version.
    """
    if isinstance(source, Path):
        source = source.read_bytes()
    doc = dict(source) if isinstance(source, Mapping) else load_json_document(source, max_bytes=max_bytes)
    upgraded = migrate(doc)
    try:
        return Submission.model_validate(upgraded)
    except ValidationError as exc:
        issues = issues_from_pydantic(exc, Submission, document=upgraded)
        raise ValidationFailed(_without_consequential(issues)) from None


def _without_consequential(issues: list[FieldIssue]) -> list[FieldIssue]:
    """Drop "unit is missing" when the same cell's task or metric is already reported wrong."""
    bad_cells = {i.field.rsplit(".", 1)[0] for i in issues if i.field.endswith((".task", ".metric"))}
    return [
        i
        for i in issues
        if not (i.field.endswith(".unit") and i.field.rsplit(".", 1)[0] in bad_cells and "missing" in i.message)
    ]


def dump_submission(submission: Submission) -> str:
    """The submission as JSON text, ``schema_version`` first, floats written exactly (``repr``)."""
    return json.dumps(submission.model_dump(mode="json"), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_submission(submission: Submission, path: str | Path) -> Path:
    """Write ``submission`` to ``path`` atomically (temp file in the same folder, fsync, ``os.replace``)."""
    return atomic_write(path, dump_submission(submission))


def submission_json_schema() -> dict[str, Any]:
    """The JSON Schema of the current submission format, for submitters and other tools.

    Cross-field rules (metric valid for its task, unit matching the metric, value range by unit,
    unique cells) are enforced by :func:`read_submission` and described in field descriptions.
    """
    schema = Submission.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://github.com/mllmu-arena/schemas/submission.v{SCHEMA_VERSION}.json",
        **schema,
        "description": (
            f"MLLMU-Bench leaderboard submission, schema version {SCHEMA_VERSION}. Metrics: "
            + "; ".join(
                f"{task.value}: " + ", ".join(f"{m} ({u.value})" for m, u in metric_units(task).items())
                for task in Task
            )
            + f". Forget ratios: {', '.join(map(str, FORGET_RATIOS))}."
        ),
    }
