"""The benchmark's vocabulary: the words every other module uses, each defined once.

A *split* is a folder of the dataset, an *evaluation set* is one of the four
sets a result is reported on, a *task* is classification, generation or cloze,
a *modality* is image+text or text only, a *protocol* is how questions are
asked and scored (``official`` or ``strict``, each with a version), and a
*prompt style* is how a model family is prompted. See ``docs/architecture.md``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
"""The multiple-choice option letters, in order."""

Letter = Literal["A", "B", "C", "D"]


class Modality(StrEnum):
    """How a question is asked: with the person's portrait, or by name only."""

    IMAGE_TEXT = "image_text"
    TEXT = "text"

    @property
    def upstream_type(self) -> str:
        """The ``Type`` value upstream writes for this modality."""
        return "Image_Textual" if self is Modality.IMAGE_TEXT else "Pure_Text"

    @classmethod
    def from_upstream(cls, value: str) -> Modality:
        """Parse upstream's ``Type`` value (``Image_Textual`` / ``Pure_Text``)."""
        mapping = {"Image_Textual": cls.IMAGE_TEXT, "Pure_Text": cls.TEXT}
        if value not in mapping:
            raise ValueError(f"unknown question Type {value!r}; expected 'Image_Textual' or 'Pure_Text'")
        return mapping[value]


class Task(StrEnum):
    """The three question kinds of the benchmark."""

    CLASSIFICATION = "classification"
    GENERATION = "generation"
    CLOZE = "cloze"


class EvalSet(StrEnum):
    """The four sets a result is reported on (spec section 2)."""

    FORGET = "forget"
    TEST = "test"
    RETAIN = "retain"
    CELEBRITY = "celebrity"

    @property
    def lower_is_better(self) -> bool:
        """Forget and test measure remaining knowledge of forgotten people: lower is better."""
        return self in (EvalSet.FORGET, EvalSet.TEST)


class Split(StrEnum):
    """The dataset's folders (Hub configs), under our names."""

    FULL = "full"
    FORGET_5 = "forget_5"
    FORGET_10 = "forget_10"
    FORGET_15 = "forget_15"
    RETAIN_95 = "retain_95"
    RETAIN_90 = "retain_90"
    RETAIN_85 = "retain_85"
    TEST = "test"
    CELEBRITY = "celebrity"

    @property
    def folder(self) -> str:
        """The upstream folder / config name of this split."""
        return _SPLIT_FOLDERS[self]


_SPLIT_FOLDERS: dict[Split, str] = {
    Split.FULL: "Full_Set",
    Split.FORGET_5: "forget_5",
    Split.FORGET_10: "forget_10",
    Split.FORGET_15: "forget_15",
    Split.RETAIN_95: "retain_95",
    Split.RETAIN_90: "retain_90",
    Split.RETAIN_85: "retain_85",
    Split.TEST: "Test_Set",
    Split.CELEBRITY: "Retain_Set",
}

FINETUNE_FOLDER = "ft_Data"
"""The upstream folder of the fine-tuning QA pairs."""

FORGET_RATIOS: tuple[int, ...] = (5, 10, 15)
"""Forget ratios (percent of the fictitious profiles) the benchmark defines."""


def forget_split(ratio: int) -> Split:
    """The forget split for a forget ratio of 5, 10 or 15 percent."""
    if ratio not in FORGET_RATIOS:
        raise ValueError(f"forget ratio must be one of {FORGET_RATIOS}, got {ratio!r}")
    return Split(f"forget_{ratio}")


def retain_split(ratio: int) -> Split:
    """The retain split (the complement of the forget split) for a forget ratio."""
    if ratio not in FORGET_RATIOS:
        raise ValueError(f"forget ratio must be one of {FORGET_RATIOS}, got {ratio!r}")
    return Split(f"retain_{100 - ratio}")


class Protocol(StrEnum):
    """How the numbers were produced (spec sections 3 and 4); never mixed in one leaderboard column."""

    OFFICIAL = "official"
    """Upstream ``eval.py`` rules, reproduced exactly (seeded here; unseeded upstream)."""
    STRICT = "strict"
    """Seeded, disjoint few-shot pool, multiple choice from next-token probabilities, own chat template."""

    @property
    def version(self) -> str:
        """The version of this protocol's prompts, sampling and scoring (:data:`PROTOCOL_VERSIONS`)."""
        return PROTOCOL_VERSIONS[self]


PROTOCOL_VERSIONS: dict[Protocol, str] = {Protocol.OFFICIAL: "1.2", Protocol.STRICT: "1.0"}
"""Bumped whenever a protocol's prompts, sampling or scoring change; recorded in every result.

``tests/benchmark/test_prompt_drift.py`` pins a hash of every prompt each version renders, so a prompt
cannot change without a new version."""


class PromptStyle(StrEnum):
    """How prompts are written for a model family (a registry entry's ``prompt_style``)."""

    LLAVA = "llava"
    """Upstream's raw ``USER: <image>\\n...ASSISTANT:`` strings (spec section 3)."""
    IDEFICS2 = "idefics2"
    """Upstream evaluates Idefics2 with the same LLaVA strings (one cloze demo profile instead of two)."""
    CHAT_TEMPLATE = "chat_template"
    """The processor's own chat template."""
