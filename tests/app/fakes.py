"""Deterministic stand-in models for the probe (no weights), in the style of ``probes.fakes``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from probes.probe import ProbeQuestion
from probes.schema import LETTERS, Task

TOKEN = "test-admin-token"
UPSTREAM_METADATA = {
    "model_name": "LLaVA vanilla <script>alert(1)</script>",
    "base_model": "llava-hf/llava-1.5-7b-hf",
    "method": "vanilla",
    "forget_ratio": 5,
    "unlearning_modality": "none",
    "submitter": "tester",
}



class ScriptedModel:
    """Answers from the question's reference for people it knows, and wrongly for the others.

    ``forgets`` holds profile IDs it has "unlearned": for them multiple choice gets the next letter,
    cloze and generation get an unrelated sentence. Free-form questions are echoed. Chunks are words,
    with ``delay`` seconds between them, so streaming is observable.
    """

    def __init__(self, name: str, forgets: frozenset[str] = frozenset(), *, delay: float = 0.0) -> None:
        self._name = name
        self.forgets = forgets
        self.delay = delay
        self.calls = 0
        self.stop_reason: str | None = None

    @property
    def name(self) -> str:
        return self._name

    def answer(self, q: ProbeQuestion) -> str:
        if q.task is None or q.reference is None:
            return f" You asked: {q.question}"
        knows = q.profile_id not in self.forgets
        if q.task is Task.CLASSIFICATION:
            letter = q.reference if knows else LETTERS[(LETTERS.index(q.reference) + 1) % 4]
            return f" {letter}"
        if knows:
            return f" {q.reference}"
        return " I am not able to recall anything about that."

    def stream(
        self, question: ProbeQuestion, *, max_new_tokens: int, cancel: threading.Event, time_limit_s: float | None
    ) -> Iterator[str]:
        self.calls += 1
        words = self.answer(question).split(" ")
        for i, word in enumerate(words[: max_new_tokens + 1]):
            if cancel.is_set():
                return
            if self.delay:
                time.sleep(self.delay)
            yield word if i == 0 else " " + word
