"""The probe's attack panel: which attacks it offers, and the probe's questions as an attack asks them.

The attacks are :mod:`probes.attacks`' registered functions, the very ones
``python -m probes.stress`` runs, so the panel shows on one person what a
robustness file measures over a set:

- a **question attack** rewrites each benchmark question (:func:`attack_questions`:
  a :class:`~probes.attacks.Query` built from the :class:`~probes.questions.ProbeQuestion`
  and its profile); ``None`` from the rewrite means the question is asked as
  without the attack, and its row says so;
- a **precision attack** loads both models at that precision and asks the
  ordinary questions (:class:`probes.service.ProbeService` does the loading).

Free-form questions are asked as written under a question attack (the
rewrites need a benchmark question and its person); precision attacks apply to
them as to any question. Both models get the attacked questions, so the
verdicts compare the attacked unlearned model with the attacked reference.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import replace

from benchmark.dataset import Profile
from benchmark.robustness import AttackFamily
from probes.attacks import ATTACKS, Attack, AttackContext, Query
from probes.questions import AttackNote, ProbeInputError, ProbeQuestion

NO_ATTACK = "none"
"""The panel's default: the questions and models as the probe always asks them."""

NO_ATTACK_DESCRIPTION = "The official prompts and portraits, the models loaded as the app loads them."
"""What the panel says under "No attack"."""

FAMILY_LABELS = {
    AttackFamily.PRECISION: "Precision",
    AttackFamily.PROMPT: "Prompt",
    AttackFamily.IMAGE: "Image",
    AttackFamily.MODALITY: "Modality",
}
"""How the menu names each family the probe offers (relearning trains, so the probe has none)."""

UNCHANGED = "not changed by this attack"
"""A row's note when the rewrite leaves its question alone (a portrait attack on a text-only question)."""

FREE_FORM_UNCHANGED = "asked as written: question attacks rewrite benchmark questions, not free-form ones"
"""A free-form row's note under a question attack."""

THUMBNAIL_PX = 72
"""Longest side of the attacked-portrait thumbnail shown in a row."""


def probe_attacks() -> list[Attack]:
    """The attacks the panel offers (``in_probe``, not the baseline), family by family in registry order."""
    order = list(FAMILY_LABELS)
    offered = [a for a in ATTACKS.values() if a.in_probe and a.family in FAMILY_LABELS]
    return sorted(offered, key=lambda a: order.index(a.family))


def attack_label(attack: Attack) -> str:
    """The menu's label, e.g. ``Precision · 4-bit nf4`` or ``Image · grayscale``."""
    return f"{FAMILY_LABELS[attack.family]} · {attack.label}"


def attack_choices() -> list[tuple[str, str]]:
    """``(label, name)`` pairs for the panel's menu: "No attack" first, then every offered attack."""
    return [("No attack", NO_ATTACK), *((attack_label(a), a.name) for a in probe_attacks())]


def find_attack(name: str | None) -> Attack | None:
    """The offered attack called ``name``; None for no attack.

    Raises:
        ProbeInputError: an unknown name, or an attack the probe does not offer (relearning).
    """
    if not name or name == NO_ATTACK:
        return None
    offered = {a.name: a for a in probe_attacks()}
    if name not in offered:
        raise ProbeInputError(f"the probe has no attack {name!r}; choose from {', '.join(offered)}")
    return offered[name]


def describe(name: str | None) -> str:
    """The one-line description of the attack ``name`` (plain text; unknown names read as no attack)."""
    attack = ATTACKS.get(name or NO_ATTACK)
    if attack is None or name == NO_ATTACK or not attack.in_probe:
        return NO_ATTACK_DESCRIPTION
    return attack.description


def query_of(question: ProbeQuestion, profile: Profile) -> Query:
    """The :class:`~probes.attacks.Query` a benchmark :class:`ProbeQuestion` of ``profile`` is."""
    if question.task is None:
        raise ValueError("a free-form question has no benchmark question to attack")
    asked = profile.questions(question.task)[question.question_index]
    return Query(question.prompt, question.images, question.task, question.modality, asked, profile)


@functools.lru_cache(maxsize=32)
def thumbnail(image: bytes, px: int = THUMBNAIL_PX) -> bytes:
    """A small JPEG of ``image`` (longest side ``px``), for the row of an attacked portrait."""
    from PIL import Image

    with Image.open(io.BytesIO(image)) as img:
        small = img.convert("RGB")
        small.thumbnail((px, px))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def attack_question(attack: Attack, question: ProbeQuestion, profile: Profile | None,
                    ctx: AttackContext) -> ProbeQuestion:
    """``question`` as ``attack`` asks it, with an :class:`AttackNote` saying what changed.

    A rewrite that returns ``None`` (or the same prompt and images) leaves the question as it was, noted
    :data:`UNCHANGED`, so both models answer it exactly as without the attack.
    """
    assert attack.rewrite is not None, "only question attacks rewrite questions"
    if question.task is None or profile is None:
        return replace(question, attack=AttackNote(attack.name, changed=False, reason=FREE_FORM_UNCHANGED))
    new = attack.rewrite(query_of(question, profile), ctx)
    if new is None or (new.prompt, new.images) == (question.prompt, question.images):
        return replace(question, attack=AttackNote(attack.name, changed=False, reason=UNCHANGED))
    shown = new.images[-1] if new.images and new.images != question.images else None
    note = AttackNote(attack.name, changed=True, prompt_changed=new.prompt != question.prompt,
                      thumbnail=thumbnail(shown) if shown else None)
    return replace(question, prompt=new.prompt, images=new.images, attack=note)


def attack_questions(attack: Attack, questions: Sequence[ProbeQuestion], profile: Profile | None,
                     ctx: AttackContext) -> list[ProbeQuestion]:
    """Every question as ``attack`` asks it (:func:`attack_question`); ``profile`` is None for free-form ones."""
    return [attack_question(attack, q, profile, ctx) for q in questions]
