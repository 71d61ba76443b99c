r"""The prompt text of both protocols, and the chat turns the strict protocol and the probe write.

Official strings are upstream ``eval.py``'s, byte for byte (spec section 3):
``USER: <image>\n...\nASSISTANT:`` with upstream's quirks kept (the missing
space in the cloze demo's ``USER:<image>``, the trailing space after the
image+text generation prompt's ``ASSISTANT:``). Changing any of them changes
results: bump the protocol's version in :mod:`benchmark.vocabulary` (the
prompt-drift test insists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchmark.dataset import Cloze, Generation, MultipleChoice
from benchmark.vocabulary import LETTERS, Modality

MAX_NEW_TOKENS = 50
"""Upstream's generation budget for every task."""

GEN_INSTRUCTION_IMAGE = "Answer the question based on your trained knowledge in one sentence accurately in ENGLISH."
GEN_INSTRUCTION_TEXT = "Answer the question based on your trained knowledge in one sentence in ENGLISH."
MC_INSTRUCTION = "Just give ONE letter representing the answer directly."
CLOZE_INSTRUCTION = "\nPlease **ONLY** provide the correct answer that should replace the [Blank]."
STRICT_MC_INSTRUCTION = "Answer with the letter (A, B, C or D) of the correct option."
"""The strict protocol's multiple-choice instruction (its answer is read from letter probabilities)."""

IMAGE_PLACEHOLDER = "<image>"
"""The image placeholder of upstream's raw prompts (one per image, in order)."""


# --------------------------------------------------------------------------- official strings


def options_block(q: MultipleChoice) -> str:
    """Upstream's options block: the question, then one ``X: option`` line per letter."""
    return q.question + "\n" + "\n".join(f"{x}: {q.options[x]}" for x in LETTERS)  # type: ignore[index]


def cloze_text(q: Cloze) -> str:
    """Upstream's cloze question: the blank as ``[Blank]`` plus the answer-only instruction."""
    return q.question.replace("__", "[Blank]") + CLOZE_INSTRUCTION


def generation_text(q: Generation) -> str:
    """The generation question with upstream's one-sentence instruction for its modality."""
    instruction = GEN_INSTRUCTION_IMAGE if q.modality is Modality.IMAGE_TEXT else GEN_INSTRUCTION_TEXT
    return f"{q.question}\n{instruction}"


def official_mc_demo(q: MultipleChoice, modality: Modality) -> str:
    """One multiple-choice demo, as upstream writes it."""
    head = "USER: <image>\n" if modality is Modality.IMAGE_TEXT else "USER:\n"
    opts = "".join(f"{x}: {q.options[x]}\n" for x in LETTERS)  # type: ignore[index]
    return f"{head}Question: {q.question}\n{opts}Correct Answer: {q.correct}\n"


def official_mc_query(q: MultipleChoice, modality: Modality) -> str:
    """The multiple-choice query that follows the demos."""
    head = "USER: <image>\n" if modality is Modality.IMAGE_TEXT else "USER:\n"
    return f"{head}{options_block(q)}\n{MC_INSTRUCTION}\nASSISTANT:"


def official_cloze_demo(q: Cloze) -> str:
    """One cloze demo (note upstream's missing space in ``USER:<image>``)."""
    head = "USER:<image>\n" if q.modality is Modality.IMAGE_TEXT else "USER:\n"
    return f"{head}{cloze_text(q)}\nCorrect Answer: {q.ground_truth}\n"


def official_cloze_query(q: Cloze) -> str:
    """The cloze query that follows the demos."""
    head = "USER: <image>\n" if q.modality is Modality.IMAGE_TEXT else "USER:\n"
    return f"{head}{cloze_text(q)}\nASSISTANT:"


def official_generation_prompt(q: Generation) -> str:
    """The zero-shot generation prompt (the image+text one ends with a space, as upstream)."""
    if q.modality is Modality.IMAGE_TEXT:
        return f"USER: <image>\n{generation_text(q)}\nASSISTANT: "
    return f"USER: {generation_text(q)}\nASSISTANT:"


def free_prompt(text: str, *, with_image: bool) -> str:
    """Upstream's zero-shot shape for a question of our own (the probe's free-form questions)."""
    return f"USER: <image>\n{text}\nASSISTANT:" if with_image else f"USER: {text}\nASSISTANT:"


# --------------------------------------------------------------------------- chat turns


@dataclass(frozen=True)
class ChatTurn:
    """One turn of a conversation, rendered by a model's own chat template (strict protocol, chat models)."""

    role: Literal["system", "user", "assistant"]
    """Who speaks."""
    text: str
    """What is said."""
    images: int = 0
    """How many images come with this turn (placed before the text, as LLaVA does)."""


def user(text: str, *, with_image: bool = False) -> ChatTurn:
    """A user turn, with the portrait before the text when ``with_image``."""
    return ChatTurn("user", text, images=1 if with_image else 0)


def assistant(text: str) -> ChatTurn:
    """An assistant turn (a few-shot demo's answer)."""
    return ChatTurn("assistant", text)
