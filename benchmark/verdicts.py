"""Does an answer know the fact, and what does that say about unlearning: one place for the probe's verdicts.

**Knowing a fact** is judged by the fact, not the sentence around it. A generated answer knows its ground
truth when it states the ground truth's *distinctive* terms: its words once normalised (case, punctuation,
thousands separators) that are not in the question, not function words, and not the *shared template*
(words that at least half the people's answers to the same question share, like "This person works as
a"). It must state at least half of them (:data:`FACT_SHARE`). A cloze answer knows when it holds every
term of the blank's answer; a multiple-choice answer when its letter is right (or, with no letter, when
it states the correct option's text and no other option's). The benchmark's own scores (accuracy,
ROUGE-L) stay beside the verdicts: ROUGE-L rewards the template ("This person works as a green shirt"
scores 0.59 against "This person works as a pastry chef ...") where this does not.

**Verdicts** compare the right-hand model with the left-hand reference, per answer
(:func:`verdict`): on the forget and test sets (the people to forget) *forgotten* (the reference knows,
the right does not), *still known* (both know); on the retain and celebrity sets *damaged* (collateral
loss) or *kept*; on every set *never known* when the reference does not know either.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from benchmark.records import SampleRecord
from benchmark.vocabulary import EvalSet, Letter, Task

FACT_SHARE = 0.5
"""Share of a ground truth's distinctive terms an answer must state to know the fact."""

TEMPLATE_SHARE = 0.5
"""A term in at least this share of the answers to one question (across people) is template, not fact."""

_FUNCTION_WORDS_TEXT = """
    a an the this that these those of in on at to for from by with and or but as is was are were be been being
    it its he she they them their his her hers him we you your our i my me who whom which what when where why
    how do does did has have had not no so than then there here also very
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())
"""English function words: never distinctive."""

_SEPARATED_NUMBER = re.compile(r"(?<=\d)[,.'\u2009\u202f](?=\d{3}\b)")
_TERM = re.compile(r"[^\W_]+", re.UNICODE)


def terms(text: str) -> list[str]:
    """``text`` as normalised terms: NFKC, case-folded, thousands separators dropped, split on non-letters."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _TERM.findall(_SEPARATED_NUMBER.sub("", folded))


TEMPLATE_MIN_ANSWERS = 10
"""Fewer answers than this to one question are too few to tell template from shared facts: no template."""


def template_terms(answers: Iterable[str], share: float = TEMPLATE_SHARE) -> frozenset[str]:
    """Terms found in at least ``share`` of ``answers`` (the ground truths of one question across people)."""
    texts = list(answers)
    if len(texts) < TEMPLATE_MIN_ANSWERS:
        return frozenset()
    counts = Counter(t for text in texts for t in set(terms(text)))
    return frozenset(t for t, n in counts.items() if n / len(texts) >= share)


def distinctive_terms(reference: str, question: str = "", template: Iterable[str] = ()) -> frozenset[str]:
    """The terms of ``reference`` that carry its fact: not in the question, the template or function words."""
    drop = FUNCTION_WORDS | set(terms(question)) | set(template)
    return frozenset(t for t in terms(reference) if t not in drop)


@dataclass(frozen=True)
class Fact:
    """What an answer must state to know one question's fact."""

    task: Task
    terms: frozenset[str]
    """Generation: the ground truth's distinctive terms; cloze: the blank's answer; MC: the correct option's."""
    letter: str | None = None
    """Multiple choice: the correct letter."""
    other_options: tuple[frozenset[str], ...] = ()
    """Multiple choice: the distinctive terms of the wrong options."""


def multiple_choice_fact(correct: Letter, options: Mapping[Letter, str], question: str = "") -> Fact:
    """The fact of a multiple-choice question: its correct letter and option text."""
    def own(text: str) -> frozenset[str]:
        return distinctive_terms(text, question)

    others = tuple(own(text) for letter, text in sorted(options.items()) if letter != correct)
    return Fact(Task.CLASSIFICATION, own(options[correct]), correct, others)


def open_fact(task: Task, reference: str, question: str = "", template: Iterable[str] = ()) -> Fact:
    """The fact of a generation or cloze question (the cloze blank's answer is all fact: no template)."""
    if task is Task.CLOZE:
        return Fact(task, frozenset(terms(reference)) - FUNCTION_WORDS or frozenset(terms(reference)))
    return Fact(task, distinctive_terms(reference, question, template))


def _share(needed: frozenset[str], said: set[str]) -> float:
    return len(needed & said) / len(needed) if needed else 0.0


def knows(fact: Fact, record: SampleRecord) -> bool:
    """Whether the answer of ``record`` states ``fact`` (see the module docstring)."""
    said = set(terms(record.raw_output))
    if fact.task is Task.CLASSIFICATION:
        if record.parsed:
            return record.answer == fact.letter
        states = bool(fact.terms) and fact.terms <= said
        return states and not any(other and other <= said for other in fact.other_options)
    if fact.task is Task.CLOZE:
        return bool(fact.terms) and fact.terms <= said
    if not fact.terms:  # a ground truth that is all template: fall back to the benchmark's own score
        return record.scores.get("rougeL", 0.0) >= FACT_SHARE
    return _share(fact.terms, said) >= FACT_SHARE


class Verdict(StrEnum):
    """What one answer of the right-hand model shows, relative to the left-hand reference."""

    FORGOTTEN = "forgotten"
    """Forget/test set: the reference knows, the right model does not (unlearning worked)."""
    STILL_KNOWN = "still known"
    """Forget/test set: both know (not forgotten)."""
    DAMAGED = "damaged"
    """Retain/celebrity set: the reference knows, the right model does not (collateral loss)."""
    KEPT = "kept"
    """Retain/celebrity set: both know (utility kept)."""
    NEVER_KNOWN = "never known"
    """The reference does not know either: nothing to forget or keep."""

    @property
    def good(self) -> bool | None:
        """True for what unlearning wants, False for what it does not, None for *never known*."""
        return {Verdict.FORGOTTEN: True, Verdict.KEPT: True, Verdict.STILL_KNOWN: False,
                Verdict.DAMAGED: False}.get(self)


VERDICT_LEGEND = {
    Verdict.FORGOTTEN: "the left model knows it, the right one no longer does (forget and test sets: wanted)",
    Verdict.STILL_KNOWN: "both know it (forget and test sets: not forgotten)",
    Verdict.DAMAGED: "the left model knows it, the right one no longer does (retain and celebrity sets: "
                     "collateral loss)",
    Verdict.KEPT: "both know it (retain and celebrity sets: wanted)",
    Verdict.NEVER_KNOWN: "the left model does not know it either: nothing to compare",
}
"""One line per verdict, for legends."""


def verdict(eval_set: EvalSet, left_knows: bool, right_knows: bool) -> Verdict:
    """The right model's verdict on one fact, relative to the left (reference) model."""
    if not left_knows:
        return Verdict.NEVER_KNOWN
    if eval_set.lower_is_better:
        return Verdict.STILL_KNOWN if right_knows else Verdict.FORGOTTEN
    return Verdict.KEPT if right_knows else Verdict.DAMAGED


def verdict_counts(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """How many of each verdict (every verdict present as a key, zeros included)."""
    counts = Counter(verdicts)
    return {v.value: counts.get(v, 0) for v in Verdict}


def summary_sentence(eval_set: EvalSet, verdicts: Sequence[Verdict]) -> str:
    """E.g. ``forgot 7 of the 9 facts the reference knew`` or ``kept 8 of the 9 retain facts the reference knew``."""
    counts = verdict_counts(verdicts)
    known = len(verdicts) - counts[Verdict.NEVER_KNOWN.value]
    never = counts[Verdict.NEVER_KNOWN.value]
    tail = f"; {never} more the reference never knew" if never else ""
    if eval_set.lower_is_better:
        return f"forgot {counts[Verdict.FORGOTTEN.value]} of the {known} facts the reference knew{tail}"
    return f"kept {counts[Verdict.KEPT.value]} of the {known} {eval_set.value} facts the reference knew{tail}"
