"""Scoring one probe answer and saying what it shows: the benchmark's score, and *still known* or *forgotten*.

An answer is scored exactly as the evaluation scores it
(:func:`benchmark.records.make_record`: the extracted letter for multiple
choice, the ground truth contained for cloze, ROUGE-L for generation). Its
verdict: multiple choice and cloze are known when right; a generated answer
when its ROUGE-L reaches :data:`KNOWN_ROUGE_L`.
"""

from __future__ import annotations

from typing import Literal

from benchmark.records import SampleRecord, make_record
from benchmark.vocabulary import Task
from probes.questions import ProbeQuestion

KNOWN_ROUGE_L = 0.5
"""A generated answer with ROUGE-L F-measure at least this counts as *still known* (below: *forgotten*)."""

Marker = Literal["still known", "forgotten"]


def score_answer(question: ProbeQuestion, text: str) -> SampleRecord | None:
    """The benchmark's record of ``text`` as the answer to ``question``; None for a free-form question."""
    if question.task is None or question.reference is None or question.eval_set is None:
        return None
    return make_record(
        key=f"{question.eval_set.value}/{question.task.value}/{question.modality.value}/"
        f"{question.profile_id}/{question.question_index}",
        eval_set=question.eval_set,
        task=question.task,
        modality=question.modality,
        profile_id=question.profile_id or "",
        question_index=question.question_index,
        question=question.question,
        reference=question.reference,
        image_index=0 if question.images else None,
        raw_output=text,
    )


def knows(record: SampleRecord | None) -> bool | None:
    """Multiple choice / cloze: the answer is right; generation: ROUGE-L reaches :data:`KNOWN_ROUGE_L`."""
    if record is None:
        return None
    if record.task is Task.GENERATION:
        return record.scores["rougeL"] >= KNOWN_ROUGE_L
    return record.scores["accuracy"] >= 1.0


def marker(record: SampleRecord | None) -> Marker | None:
    """*still known* when :func:`knows`, *forgotten* when not, None while unscored."""
    known = knows(record)
    return None if known is None else ("still known" if known else "forgotten")


def score_text(record: SampleRecord | None) -> str:
    """``correct`` / ``wrong`` (with the extracted letter for MC) or ``ROUGE-L 0.42``; empty while unscored."""
    if record is None:
        return ""
    if record.task is Task.GENERATION:
        return f"ROUGE-L {record.scores['rougeL']:.2f}"
    verdict = "correct" if record.scores["accuracy"] >= 1.0 else "wrong"
    if record.task is Task.CLASSIFICATION:
        return f"{verdict} (read {record.answer or 'no letter'})"
    return verdict
