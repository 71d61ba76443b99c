"""Per-sample records, and the aggregates derived from them.

Records come first: every question asked produces one :class:`SampleRecord`
with the raw continuation, the extracted answer beside it (the extraction
stage is :mod:`benchmark.extraction`), and its scores.
Aggregates (the upstream results file, the submission cells) are computed
from records only (:func:`aggregate`), so they can always be re-derived and audited.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from benchmark.extraction import official_answer, official_letter, strict_letter
from benchmark.metrics import CellKey, metrics_for, score
from benchmark.vocabulary import EvalSet, Modality, Task

# --------------------------------------------------------------------------- records


class SampleRecord(BaseModel):
    """One question asked and scored; a line of ``<run>.samples.jsonl``."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    key: str = Field(description="Stable question identity: set/task/modality/profile/index.")
    eval_set: EvalSet = Field(alias="set", description="forget, test, retain or celebrity.")
    task: Task = Field(description="classification, generation or cloze.")
    modality: Modality = Field(description="image_text or text.")
    profile_id: str = Field(description="The profile the question is about.")
    question_index: int = Field(description="Index within the profile's questions of this task.")
    question: str = Field(description="The question text (multiple choice: with its options).")
    reference: str = Field(description="The correct letter, or the ground truth.")
    image_index: int | None = Field(default=None, description="Which portrait was shown (test set: the draw).")
    raw_output: str = Field(description="The model's continuation only, without the prompt.")
    answer: str = Field(description="The extracted answer: the letter for multiple choice, else the answer text.")
    parsed: bool = Field(default=True, description="False when no letter A-D could be read from the output.")
    letter_logprobs: dict[str, float] | None = Field(
        default=None, description="Strict multiple choice: next-token log-probability of each letter."
    )
    scores: dict[str, float] = Field(description="Metric name -> per-sample value in [0, 1].")


def make_record(
    *,
    key: str,
    eval_set: EvalSet,
    task: Task,
    modality: Modality,
    profile_id: str,
    question_index: int,
    question: str,
    reference: str,
    image_index: int | None,
    raw_output: str,
    letter_logprobs: dict[str, float] | None = None,
) -> SampleRecord:
    """Extract the answer from ``raw_output`` (or the log-probabilities) and score it."""
    parsed = True
    if task is Task.CLASSIFICATION:
        if letter_logprobs is not None:
            answer = strict_letter(letter_logprobs)
        else:
            letter = official_letter(official_answer(raw_output))
            parsed = letter is not None
            answer = letter or ""
    else:
        answer = official_answer(raw_output)
    return SampleRecord(
        key=key,
        eval_set=eval_set,
        task=task,
        modality=modality,
        profile_id=profile_id,
        question_index=question_index,
        question=question,
        reference=reference,
        image_index=image_index,
        raw_output=raw_output,
        answer=answer,
        parsed=parsed,
        letter_logprobs=letter_logprobs,
        scores=score(task, answer, reference),
    )


def read_records(path: Path) -> list[SampleRecord]:
    """Read a samples file; a torn last line (a crash mid-write) is ignored."""
    out: list[SampleRecord] = []
    if not path.exists():
        return out
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(SampleRecord.model_validate_json(line))
        except ValueError:
            if n == len(lines) - 1:
                break  # torn tail from an interrupted run: recomputed on resume
            raise
    return out


# --------------------------------------------------------------------------- aggregates


class CellValue(NamedTuple):
    """An aggregate with its sample count and unparsable-answer count."""

    value: float
    n: int
    n_unparsed: int


def aggregate(records: Iterable[SampleRecord]) -> dict[CellKey, CellValue]:
    """Mean of each metric per set x task x modality, on the metric's unit, with its counts."""
    groups: dict[tuple[EvalSet, Task, Modality], list[SampleRecord]] = defaultdict(list)
    for r in records:
        groups[(r.eval_set, r.task, r.modality)].append(r)
    cells: dict[CellKey, CellValue] = {}
    for (s, t, m), recs in sorted(groups.items(), key=lambda kv: tuple(x.value for x in kv[0])):
        unparsed = sum(not r.parsed for r in recs)
        for metric in metrics_for(t):
            value = metric.aggregate(r.scores[metric.name] for r in recs)
            if value is not None:
                cells[CellKey(s, t, m, metric.name)] = CellValue(value, len(recs), unparsed)
    return cells
