"""Fake models for the app tests: registry fakes (``kind: fake``) whose behaviour knows the demo's answers.

A *scripted* behaviour answers each demo question from its reference, except for the people it has
"forgotten": for them multiple choice gets the next letter, cloze and generation an unrelated sentence.
Free-form questions are echoed. It recognises a question by its prompt and images, exactly as the probe
writes them, so it goes through the same seam as a real model.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from backend.fakes import Behaviour, FakeModel, register_behaviour
from backend.registry import ModelSpec, Registry, load_registry, parse_registry
from benchmark.reader import load_benchmark_cached
from benchmark.vocabulary import LETTERS, EvalSet, Task
from probes.questions import ProbeQuestion, person_questions

TOKEN = "test-admin-token"
UPSTREAM_METADATA = {
    "model_name": "LLaVA vanilla <script>alert(1)</script>",
    "base_model": "llava-hf/llava-1.5-7b-hf",
    "method": "vanilla",
    "forget_ratio": 5,
    "unlearning_modality": "none",
    "submitter": "tester",
}
FORGET_RATIO = 10
_FREE = re.compile(r"^USER: (?:<image>\n)?(?P<text>.*)\nASSISTANT:$", re.S)


@functools.cache
def answer_key() -> dict[tuple[str, tuple[bytes, ...]], ProbeQuestion]:
    """Every demo question the probe can ask (forget 10 %), by its prompt and images."""
    bench = load_benchmark_cached("demo")
    key = {}
    for eval_set in EvalSet:
        for profile in bench.eval_profiles(eval_set, FORGET_RATIO):
            for q in person_questions(profile, eval_set):
                key[(q.prompt, q.images)] = q
    return key


def scripted(forgets: frozenset[str] = frozenset(), *, delay_s: float = 0.0, error: str | None = None) -> Behaviour:
    """A behaviour that knows every demo person but ``forgets`` (profile IDs)."""

    def answer(prompt: str, images: Sequence[bytes]) -> str:
        if error is not None:
            raise RuntimeError(error)
        q = answer_key().get((prompt, tuple(images)))
        if q is None or q.reference is None:
            free = _FREE.match(prompt)
            return f" You asked: {free['text'] if free else prompt}"
        knows = q.profile_id not in forgets
        if q.task is Task.CLASSIFICATION:
            return f" {q.reference if knows else LETTERS[(LETTERS.index(q.reference) + 1) % 4]}"
        return f" {q.reference}" if knows else " I am not able to recall anything about that."

    return Behaviour(answer, delay_s=delay_s)


def scripted_model(name: str, forgets: frozenset[str] = frozenset(), *, delay: float = 0.0,
                   error: str | None = None) -> FakeModel:
    """A fake model called ``name`` with a :func:`scripted` behaviour of its own."""
    register_behaviour(f"scripted:{name}", scripted(forgets, delay_s=delay, error=error))
    return FakeModel(ModelSpec(name=name, kind="fake", behaviour=f"scripted:{name}"))


def fake_registry(forget_ids: frozenset[str]) -> Registry:
    """The shipped registry's entries as fakes: ``demo-base`` knows everyone, every other one forgets ``forget_ids``."""
    register_behaviour("scripted:knows-all", scripted())
    register_behaviour("scripted:forgets", scripted(forget_ids))
    entries = []
    for spec in load_registry().models:
        behaviour = "scripted:knows-all" if spec.name == "demo-base" else "scripted:forgets"
        entries.append({"name": spec.name, "kind": "fake", "behaviour": behaviour, "base": spec.base,
                        "method": spec.method, "forget_ratio": spec.forget_ratio, "prompt_style": spec.prompt_style,
                        "description": spec.description})
    return parse_registry({"version": 1, "models": entries})
