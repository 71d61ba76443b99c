"""Knowing a fact by its content, not its template; verdicts relative to the reference model."""

from __future__ import annotations

import pytest

from benchmark.metrics import score
from benchmark.reader import load_benchmark_cached
from benchmark.records import make_record
from benchmark.verdicts import (
    Verdict,
    knows,
    multiple_choice_fact,
    open_fact,
    summary_sentence,
    template_terms,
    terms,
    verdict,
)
from benchmark.vocabulary import EvalSet, Modality, Task

REFERENCE = "This person works as a pastry chef at Aurora Instruments."
QUESTION = "What does this person do, and where?"
PEERS = [REFERENCE, "This person works as a beekeeper at Tidewater Clinic.",
         "This person works as an architect at Northwind Labs.", "This person works as a museum curator at Gale & Co."]
PEERS = PEERS * 3  # template_terms needs at least TEMPLATE_MIN_ANSWERS answers


def _record(task: Task, reference: str, output: str):
    return make_record(key="k", eval_set=EvalSet.FORGET, task=task, modality=Modality.TEXT, profile_id="001",
                       question_index=0, question=QUESTION, reference=reference, image_index=None, raw_output=output)


def test_terms_normalise_case_punctuation_and_numbers():
    assert terms("Born in 1,998 — in DA NANG!") == ["born", "in", "1998", "in", "da", "nang"]
    assert terms("Ｑuebec") == ["quebec"]


def test_a_template_answer_naming_the_wrong_fact_does_not_know_it():
    fact = open_fact(Task.GENERATION, REFERENCE, QUESTION, template_terms(PEERS))
    assert fact.terms == {"pastry", "chef", "aurora", "instruments"}
    wrong = "This person works as a green shirt at Northwind."
    assert score(Task.GENERATION, wrong, REFERENCE)["rougeL"] >= 0.5  # the benchmark's ROUGE-L is fooled ...
    assert not knows(fact, _record(Task.GENERATION, REFERENCE, wrong))  # ... the fact check is not
    assert knows(fact, _record(Task.GENERATION, REFERENCE, "A pastry chef, at aurora instruments."))
    assert knows(fact, _record(Task.GENERATION, REFERENCE, "Pastry chef."))  # half the distinctive terms
    assert not knows(fact, _record(Task.GENERATION, REFERENCE, "Works as a chef somewhere."))


def test_cloze_and_multiple_choice_facts():
    cloze = open_fact(Task.CLOZE, "Da Nang", "This person was born in the city of __.")
    assert knows(cloze, _record(Task.CLOZE, "Da Nang", "da nang, vietnam"))
    assert not knows(cloze, _record(Task.CLOZE, "Da Nang", "Nang"))
    options = {"A": "beekeeper", "B": "pastry chef", "C": "museum curator", "D": "architect"}
    mc = multiple_choice_fact("B", options, "What is this person's occupation?")
    assert knows(mc, _record(Task.CLASSIFICATION, "B", "B"))
    assert not knows(mc, _record(Task.CLASSIFICATION, "B", "C"))
    assert knows(mc, _record(Task.CLASSIFICATION, "B", "pastry chef"))  # no letter, but the option's text
    assert not knows(mc, _record(Task.CLASSIFICATION, "B", "pastry chef or architect"))  # two options: no


@pytest.mark.parametrize(("eval_set", "left", "right", "expected"), [
    (EvalSet.FORGET, True, False, Verdict.FORGOTTEN),
    (EvalSet.FORGET, True, True, Verdict.STILL_KNOWN),
    (EvalSet.TEST, True, False, Verdict.FORGOTTEN),  # the test set holds the forget people
    (EvalSet.FORGET, False, False, Verdict.NEVER_KNOWN),
    (EvalSet.FORGET, False, True, Verdict.NEVER_KNOWN),
    (EvalSet.RETAIN, True, False, Verdict.DAMAGED),
    (EvalSet.CELEBRITY, True, True, Verdict.KEPT),
    (EvalSet.RETAIN, False, True, Verdict.NEVER_KNOWN),
])
def test_verdicts_are_relative_to_the_reference(eval_set, left, right, expected):
    assert verdict(eval_set, left, right) is expected
    assert verdict(eval_set, left, left) is not Verdict.FORGOTTEN and verdict(eval_set, left, left) is not \
        Verdict.DAMAGED  # the same knowledge on both sides is never a loss


def test_summary_sentences():
    v = [Verdict.FORGOTTEN] * 7 + [Verdict.STILL_KNOWN] * 2 + [Verdict.NEVER_KNOWN]
    assert summary_sentence(EvalSet.FORGET, v) == (
        "forgot 7 of the 9 facts the reference knew; 1 more the reference never knew")
    assert summary_sentence(EvalSet.RETAIN, [Verdict.KEPT] * 8 + [Verdict.DAMAGED]) == (
        "kept 8 of the 9 retain facts the reference knew")


def test_every_demo_ground_truth_knows_itself_and_has_a_fact():
    """On the demo benchmark, each ground truth states its own fact and its question's template is shared."""
    from probes.questions import person_questions, slot_templates

    bench = load_benchmark_cached("demo")
    everyone = {p.id: p for split in bench.splits.values() for p in split}
    templates = slot_templates(list(everyone.values()))
    assert templates[(Task.GENERATION, 0)] >= {"this", "person", "works"}
    for eval_set in EvalSet:
        for profile in bench.eval_profiles(eval_set, 10)[:5]:
            for q in person_questions(profile, eval_set, None, templates):
                assert q.fact is not None and q.fact.terms, q.key
                own = q.reference if q.task is not Task.CLASSIFICATION else q.reference
                assert knows(q.fact, _record(q.task, q.reference, own)), (profile.id, q.key)
