"""Scoring one probe answer: the benchmark's score (as the evaluation scores it) and whether it knows the fact.

What knowing a fact means, and the verdicts comparing the two models, live with the benchmark's scoring
in :mod:`benchmark.verdicts`; this module applies them to probe questions.
"""

from __future__ import annotations

from benchmark.records import SampleRecord, make_record
from benchmark.verdicts import knows as states_fact
from benchmark.vocabulary import Task
from probes.questions import ProbeQuestion


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


def knows(question: ProbeQuestion, record: SampleRecord | None) -> bool | None:
    """Whether the scored answer states the question's fact (:func:`benchmark.verdicts.knows`); None if unscored."""
    if record is None or question.fact is None:
        return None
    return states_fact(question.fact, record)


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
