"""The benchmark's nouns: profiles, questions, splits and fine-tuning pairs.

Everything that crosses a module boundary about MLLMU-Bench data is one of the
frozen pydantic models below. They mirror the upstream dataset (Hub dataset
``MLLMMU/MLLMU-Bench``, spec section 1) in the words of
:mod:`benchmark.vocabulary`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from benchmark.vocabulary import EvalSet, Letter, Modality, Split, Task, forget_split, retain_split

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MultipleChoice(_Frozen):
    """A four-option question; upstream's ``Classification_Task`` entries."""

    question: str = Field(description="The question text, without the options.")
    options: dict[Letter, str] = Field(description="Option text by letter, exactly A, B, C and D.")
    correct: Letter = Field(description="The letter of the correct option.")
    modality: Modality = Field(description="Asked with the portrait (image_text) or by name (text).")

    @property
    def task(self) -> Task:
        """Always ``Task.CLASSIFICATION``."""
        return Task.CLASSIFICATION

    @property
    def reference(self) -> str:
        """What a prediction is scored against: the correct letter."""
        return self.correct


class Generation(_Frozen):
    """An open question answered in one sentence; upstream's ``Generation_Task``."""

    question: str = Field(description="The question text.")
    ground_truth: str = Field(description="The reference answer sentence.")
    modality: Modality = Field(description="Asked with the portrait (image_text) or by name (text).")

    @property
    def task(self) -> Task:
        """Always ``Task.GENERATION``."""
        return Task.GENERATION

    @property
    def reference(self) -> str:
        """What a prediction is scored against: the ground truth."""
        return self.ground_truth


class Cloze(_Frozen):
    """A fill-in-the-blank question (blank written ``__``); upstream's ``Mask_Task``."""

    question: str = Field(description="The sentence with its blank written as two underscores.")
    ground_truth: str = Field(description="The text that fills the blank.")
    modality: Modality = Field(description="Asked with the portrait (image_text) or by name (text).")

    @property
    def task(self) -> Task:
        """Always ``Task.CLOZE``."""
        return Task.CLOZE

    @property
    def reference(self) -> str:
        """What a prediction is scored against: the ground truth."""
        return self.ground_truth


Question = MultipleChoice | Generation | Cloze
"""Any benchmark question."""


class Profile(_Frozen):
    """One person (fictitious or celebrity) with their portrait(s) and questions."""

    id: str = Field(description="Upstream ID; fictitious profiles use three zero-padded digits ('093').")
    name: str = Field(description="The person's name, from the biography's 'Name' (may be empty if absent).")
    biography: dict[str, object] = Field(description="The decoded biography object (keys are open).")
    images: tuple[bytes, ...] = Field(
        description="Encoded portrait(s) (JPEG/PNG bytes). One for most splits, several for the test split."
    )
    split: Split | None = Field(
        description="The split this row was read from; None for profiles outside the benchmark."
    )
    question: str = Field(default="", description="Upstream's profile-level question.")
    answer: str = Field(default="", description="Upstream's profile-level answer.")
    multiple_choice: tuple[MultipleChoice, ...] = Field(description="Classification questions, image+text first.")
    generation: tuple[Generation, ...] = Field(description="Generation questions in upstream order.")
    cloze: tuple[Cloze, ...] = Field(description="Cloze questions in upstream order.")

    def questions(self, task: Task, modality: Modality | None = None) -> tuple[Question, ...]:
        """This profile's questions of one task, optionally of one modality, in upstream order."""
        pool: tuple[Question, ...]
        if task is Task.CLASSIFICATION:
            pool = self.multiple_choice
        elif task is Task.GENERATION:
            pool = self.generation
        else:
            pool = self.cloze
        return tuple(q for q in pool if modality is None or q.modality is modality)

    def portrait(self, index: int = 0) -> PILImage:
        """Decode portrait ``index`` as an RGB PIL image."""
        from PIL import Image

        with Image.open(io.BytesIO(self.images[index])) as img:
            return img.convert("RGB")


class FinetuneRecord(_Frozen):
    """One person's fine-tuning data (a row of ``ft_Data``)."""

    id: str = Field(description="Profile ID the pairs are about.")
    image: bytes = Field(description="Encoded portrait shown with the image+text pairs.")
    pairs: tuple[FinetunePair, ...] = Field(description="The question/answer pairs for this person.")


class FinetunePair(_Frozen):
    """One fine-tuning question and answer."""

    question: str = Field(description="The question, e.g. 'Where was this person born?'.")
    answer: str = Field(description="The target answer sentence.")


FinetuneRecord.model_rebuild()


class SplitCounts(_Frozen):
    """Profile and question counts of one split, as ``describe`` reports them."""

    profiles: int = Field(description="Number of profiles (rows).")
    multiple_choice: int = Field(description="Number of multiple-choice questions.")
    generation: int = Field(description="Number of generation questions.")
    cloze: int = Field(description="Number of cloze questions.")


class Benchmark(_Frozen):
    """A loaded benchmark: every split's profiles, the fine-tuning data, and a fingerprint."""

    source: str = Field(description="Where it was read from: 'demo', a folder path or a Hub dataset id.")
    revision: str | None = Field(default=None, description="The resolved Hub commit, when read from the Hub.")
    fingerprint: str = Field(description="SHA-256 (16 hex digits) over the decoded rows of every folder read.")
    splits: dict[Split, tuple[Profile, ...]] = Field(description="Profiles of each split present.")
    finetune: tuple[FinetuneRecord, ...] = Field(default=(), description="ft_Data rows, if present.")

    def split(self, split: Split) -> tuple[Profile, ...]:
        """The profiles of ``split``; a clear error if the dataset lacks it."""
        if split not in self.splits:
            present = ", ".join(sorted(s.value for s in self.splits)) or "none"
            raise KeyError(f"split {split.value!r} ({split.folder}/) is not in {self.source} (present: {present})")
        return self.splits[split]

    def eval_profiles(self, eval_set: EvalSet, forget_ratio: int) -> tuple[Profile, ...]:
        """The profiles evaluated for ``eval_set`` at ``forget_ratio`` (spec section 2).

        The test set keeps only rows whose ID is in the forget split, as upstream does.
        """
        if eval_set is EvalSet.FORGET:
            return self.split(forget_split(forget_ratio))
        if eval_set is EvalSet.RETAIN:
            return self.split(retain_split(forget_ratio))
        if eval_set is EvalSet.CELEBRITY:
            return self.split(Split.CELEBRITY)
        forget_ids = {p.id for p in self.split(forget_split(forget_ratio))}
        return tuple(p for p in self.split(Split.TEST) if p.id in forget_ids)

    def counts(self) -> dict[Split, SplitCounts]:
        """Profile and question counts for every split present."""
        return {
            split: SplitCounts(
                profiles=len(profiles),
                multiple_choice=sum(len(p.multiple_choice) for p in profiles),
                generation=sum(len(p.generation) for p in profiles),
                cloze=sum(len(p.cloze) for p in profiles),
            )
            for split, profiles in self.splits.items()
        }
