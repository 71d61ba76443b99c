"""What the live probe asks: the people of a set and their questions, each with the prompts a model gets.

Questions are written with the official protocol's zero-shot prompt builders
(:mod:`benchmark.prompts`): upstream's raw ``USER: ... ASSISTANT:`` string for
llava / idefics2-style models, and the same question and instruction as one
user turn for chat-template models. No few-shot demos: one question at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchmark.dataset import Benchmark, MultipleChoice, Profile, Question
from benchmark.prompts import (
    MC_INSTRUCTION,
    cloze_text,
    free_prompt,
    generation_text,
    official_cloze_query,
    official_generation_prompt,
    official_mc_query,
    options_block,
)
from benchmark.verdicts import Fact, multiple_choice_fact, open_fact, template_terms
from benchmark.vocabulary import EvalSet, Modality, Task

ALL_QUESTIONS = "all"
"""The question key that asks all of a person's questions (of the chosen modality)."""

FREE_KEY = "free"
"""The key of a free-form question."""

TASK_LABELS = {Task.CLASSIFICATION: "MC", Task.CLOZE: "cloze", Task.GENERATION: "generation"}

TASK_ORDER = (Task.CLASSIFICATION, Task.CLOZE, Task.GENERATION)
"""The order a person's questions are asked in."""


class ProbeInputError(ValueError):
    """A probe request is invalid (unknown person or question, malformed Hub id, ...); the message says why."""


@dataclass(frozen=True)
class Person:
    """A person who can be probed: one profile of one evaluation set."""

    id: str
    """The profile ID (``"093"`` for fictitious people)."""
    name: str
    """The person's name (from the biography)."""
    portrait: bytes
    """The portrait shown with image+text questions (the test set's first transformed portrait)."""


@dataclass(frozen=True)
class ProbeQuestion:
    """One question to put to both models, with the prompt each kind of model gets."""

    key: str
    """``task/index`` (index within the person's questions of that task, upstream order), or ``free``."""
    task: Task | None
    """classification, cloze or generation; None for a free-form question (not scored)."""
    modality: Modality
    """image_text: asked with the image; text: asked by name, no image."""
    question: str
    """The question as shown (multiple choice: with its options)."""
    prompt: str
    """Upstream's raw zero-shot prompt (``USER: ... ASSISTANT:``) for llava / idefics2-style models."""
    chat_text: str
    """The user turn for chat-template models (the same question and instruction, no role markers)."""
    images: tuple[bytes, ...] = ()
    """The encoded image(s) the prompt refers to (one for image+text, none for text)."""
    reference: str | None = None
    """The correct letter or the ground truth; None for free-form questions."""
    reference_text: str | None = None
    """The reference as shown: ``C: Quebec City`` for multiple choice, else the ground truth."""
    eval_set: EvalSet | None = None
    """The set the person was picked from."""
    profile_id: str | None = None
    """The person's ID."""
    question_index: int = 0
    """Index within the person's questions of this task."""
    fact: Fact | None = None
    """What an answer must state to know the fact (:mod:`benchmark.verdicts`); None for free-form questions."""
    attack: AttackNote | None = None
    """What the probe's attack did to this question; None when no question attack was chosen."""


@dataclass(frozen=True)
class AttackNote:
    """What the probe's attack did to one question (:mod:`probes.attacked`); shown beside the question."""

    attack: str
    """The attack's registry name (:data:`probes.attacks.ATTACKS`)."""
    changed: bool
    """True when the question's prompt or images were rewritten (they are then the attacked ones)."""
    prompt_changed: bool = False
    """The prompt text differs from the official one (:attr:`ProbeQuestion.prompt` holds the attacked prompt)."""
    thumbnail: bytes | None = None
    """A small JPEG of the portrait as asked, when the attack transformed or added it."""
    reason: str = ""
    """Why the question was not changed (empty when it was)."""


Templates = Mapping[tuple[Task, int], frozenset[str]]
"""(task, question index) -> the terms most people's ground truths to that question share."""


def slot_templates(profiles: Sequence[Profile]) -> dict[tuple[Task, int], frozenset[str]]:
    """The shared template of each question slot, from the ground truths of ``profiles`` (one set's people)."""
    answers: dict[tuple[Task, int], list[str]] = {}
    for profile in profiles:
        for task in (Task.GENERATION, Task.CLOZE):
            for index, q in enumerate(profile.questions(task)):
                answers.setdefault((task, index), []).append(q.reference)
    return {slot: template_terms(texts) for slot, texts in answers.items()}


def _portrait(profile: Profile) -> bytes:
    return profile.images[0] if profile.images else b""


def people(benchmark: Benchmark, eval_set: EvalSet, forget_ratio: int) -> list[Person]:
    """The people of ``eval_set`` at ``forget_ratio``, in dataset order."""
    return [Person(p.id, p.name or p.id, _portrait(p)) for p in benchmark.eval_profiles(eval_set, forget_ratio)]


def find_profile(benchmark: Benchmark, eval_set: EvalSet, forget_ratio: int, person_id: str) -> Profile:
    """The profile ``person_id`` of ``eval_set``, or :class:`ProbeInputError` naming the set."""
    for profile in benchmark.eval_profiles(eval_set, forget_ratio):
        if profile.id == person_id:
            return profile
    raise ProbeInputError(f"no person with ID {person_id!r} in the {eval_set.value} set (forget {forget_ratio} %)")


def _question(q: Question, key: str, index: int, profile: Profile, eval_set: EvalSet,
              templates: Templates) -> ProbeQuestion:
    image = q.modality is Modality.IMAGE_TEXT
    images = (_portrait(profile),) if image else ()
    if isinstance(q, MultipleChoice):
        prompt = official_mc_query(q, q.modality)
        shown = options_block(q)
        chat = f"{shown}\n{MC_INSTRUCTION}"
        reference_text = f"{q.correct}: {q.options[q.correct]}"
        fact = multiple_choice_fact(q.correct, q.options, q.question)
    elif q.task is Task.CLOZE:
        prompt = official_cloze_query(q)  # type: ignore[arg-type]
        shown = q.question
        chat = cloze_text(q)  # type: ignore[arg-type]
        reference_text = q.reference
        fact = open_fact(q.task, q.reference, q.question)
    else:
        prompt = official_generation_prompt(q)  # type: ignore[arg-type]
        shown = q.question
        chat = generation_text(q)  # type: ignore[arg-type]
        reference_text = q.reference
        fact = open_fact(q.task, q.reference, q.question, templates.get((q.task, index), frozenset()))
    return ProbeQuestion(
        key=key,
        task=q.task,
        modality=q.modality,
        question=shown,
        prompt=prompt,
        chat_text=chat,
        images=images,
        reference=q.reference,
        reference_text=reference_text,
        eval_set=eval_set,
        profile_id=profile.id,
        question_index=index,
        fact=fact,
    )


def person_questions(profile: Profile, eval_set: EvalSet, modality: Modality | None = None,
                     templates: Templates | None = None) -> list[ProbeQuestion]:
    """Every question of ``profile`` (of one modality, or both), multiple choice first, then cloze, then generation.

    ``templates`` (:func:`slot_templates` of the set's people) keep template words out of the facts.
    """
    out = []
    for task in TASK_ORDER:
        for index, q in enumerate(profile.questions(task)):
            if modality is None or q.modality is modality:
                out.append(_question(q, f"{task.value}/{index}", index, profile, eval_set, templates or {}))
    return out


def question_choices(profile: Profile, eval_set: EvalSet, modality: Modality | None = None) -> list[tuple[str, str]]:
    """``(label, key)`` pairs for a question picker: "all questions" first, then each question."""
    qs = person_questions(profile, eval_set, modality)
    choices = [(f"All {len(qs)} questions", ALL_QUESTIONS)]
    for q in qs:
        first_line = q.question.splitlines()[0]
        choices.append((f"{TASK_LABELS[q.task] if q.task else 'free'} · {first_line}", q.key))
    return choices


def select_questions(
    profile: Profile, eval_set: EvalSet, modality: Modality | None, key: str = ALL_QUESTIONS,
    templates: Templates | None = None,
) -> list[ProbeQuestion]:
    """All of the person's questions (``key == "all"``) or the one named by ``key`` (``task/index``)."""
    qs = person_questions(profile, eval_set, modality, templates)
    if key in (ALL_QUESTIONS, "", None):
        return qs
    chosen = [q for q in qs if q.key == key]
    if not chosen:
        known = ", ".join(q.key for q in qs) or "none"
        raise ProbeInputError(f"{profile.name or profile.id} has no question {key!r} in this modality (known: {known})")
    return chosen


MAX_FREE_TEXT_CHARS = 1000
"""Longest free-form question (refused before it is tokenised)."""


def free_question(text: str, image: bytes | None = None) -> ProbeQuestion:
    """A free-form question (not scored), with the portrait-style prompt when an image is given."""
    text = text.strip()
    if not text:
        raise ProbeInputError("the free-form question is empty")
    if len(text) > MAX_FREE_TEXT_CHARS:
        raise ProbeInputError(f"the free-form question is {len(text):,} characters long; at most "
                              f"{MAX_FREE_TEXT_CHARS:,} are allowed")
    if image:
        return ProbeQuestion(FREE_KEY, None, Modality.IMAGE_TEXT, text, free_prompt(text, with_image=True), text,
                             (image,))
    return ProbeQuestion(FREE_KEY, None, Modality.TEXT, text, free_prompt(text, with_image=False), text)
