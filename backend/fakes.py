"""Fake models: the ``fake`` kind of the registry (in the spirit of lm-eval's dummy model and inspect's ``mockllm``).

A registry entry ``{name: echo, kind: fake, behaviour: hash}`` loads as a
:class:`FakeModel`, which answers through the same seam as a real model
(:class:`backend.model.Model`: batched generation, streaming, scoring, chat
rendering) with no weights, no randomness and no time: it exercises
everything around the model (planning, batching, resuming, sharding, scoring,
streaming and stopping, files) in milliseconds.

What a fake answers is its *behaviour*, registered by name. Built in:

- ``hash``: text derived from a hash of the prompt and images (a letter-led
  answer, sometimes with a stray ``ASSISTANT:``), and a normalised
  distribution over the candidates for scoring.

Tests register their own with :func:`register_behaviour` (for example one that
knows the demo people's answers and has "forgotten" some).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass

from backend.generation import ChatTurn, StopReason
from backend.loading import LoadInfo
from backend.model import Request
from backend.registry import ModelKind, ModelSpec

_WORDS = ("Riga", "this", "person", "was", "born", "in", "works", "as", "a", "botanist", "at", "Northwind", "Labs")


def _digest(prompt: str, images: Sequence[bytes], salt: str = "") -> bytes:
    h = hashlib.sha256((salt + prompt).encode())
    for img in images:
        h.update(hashlib.sha256(img).digest())
    return h.digest()


def hash_answer(prompt: str, images: Sequence[bytes]) -> str:
    """The ``hash`` behaviour's continuation: a pure function of the prompt and images."""
    d = _digest(prompt, images)
    words = " ".join(_WORDS[b % len(_WORDS)] for b in d[: 3 + d[0] % 8])
    lead = "ABCD"[d[1] % 4] if d[2] % 5 else "I think"
    tail = "\nASSISTANT: more" if d[3] % 3 == 0 else ""
    return f" {lead} {words}{tail}"


def hash_scores(prompt: str, images: Sequence[bytes], candidates: Sequence[str]) -> dict[str, float]:
    """The ``hash`` behaviour's next-token log-probabilities: a normalised distribution over ``candidates``."""
    d = _digest(prompt, images)
    weights = [1 + d[k % len(d)] for k in range(len(candidates))]
    total = sum(weights)
    return {c: math.log(w / total) for c, w in zip(candidates, weights, strict=True)}


@dataclass(frozen=True)
class Behaviour:
    """What a fake model answers."""

    answer: Callable[[str, Sequence[bytes]], str]
    """``answer(prompt, images)``: the full continuation (before stop strings and the token budget)."""
    scores: Callable[[str, Sequence[bytes], Sequence[str]], dict[str, float]] = hash_scores
    """``scores(prompt, images, candidates)``: next-token log-probabilities of the candidates."""
    delay_s: float = 0.0
    """Seconds between streamed words (so streaming and stopping are observable)."""


BEHAVIOURS: dict[str, Behaviour] = {"hash": Behaviour(hash_answer)}
"""Registered behaviours by name."""


def register_behaviour(name: str, behaviour: Behaviour) -> None:
    """Make ``behaviour`` available to registry entries ``{kind: fake, behaviour: NAME}`` (replaces a namesake)."""
    BEHAVIOURS[name] = behaviour


def _words(text: str) -> list[str]:
    """``text`` as streamed chunks: words, each but the first with its leading space."""
    parts = text.split(" ")
    return [parts[0], *(" " + w for w in parts[1:])] if parts else []


def _cut(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    positions = [p for p in (text.find(s) for s in stop if s) if p >= 0]
    return (text[: min(positions)], True) if positions else (text, False)


class FakeStream:
    """A fake model's streamed answer: words as chunks; ``stop_reason`` is set when it ends."""

    def __init__(
        self,
        text: str,
        *,
        max_new_tokens: int,
        stop: Sequence[str],
        delay_s: float,
        cancel: threading.Event | None,
        time_limit_s: float | None,
    ) -> None:
        self.stop_reason: StopReason | None = None
        self.text = ""
        deadline = time.monotonic() + time_limit_s if time_limit_s is not None else math.inf
        self._chunks: Generator[str, None, None] = self._iterate(
            text, max_new_tokens, tuple(stop), delay_s, cancel or threading.Event(), deadline
        )

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._chunks)

    def close(self) -> None:
        """Stop streaming."""
        if self.stop_reason is None:
            self.stop_reason = "cancelled"
        self._chunks.close()

    def _iterate(
        self, text: str, budget: int, stop: tuple[str, ...], delay_s: float, cancel: threading.Event, deadline: float
    ) -> Generator[str, None, None]:
        words = _words(text)
        for count, word in enumerate(words[:budget], start=1):
            if cancel.wait(delay_s) if delay_s else cancel.is_set():
                self.stop_reason = "cancelled"
                return
            if time.monotonic() > deadline:
                self.stop_reason = "time_limit"
                return
            cut, hit = _cut(self.text + word, stop)
            new = cut[len(self.text) :]
            self.text = cut
            if new:
                yield new
            if hit:
                self.stop_reason = "stop_string"
                return
            if count == budget and count < len(words):
                self.stop_reason = "max_new_tokens"
                return
        self.stop_reason = "eos"


class FakeModel:
    """A registry entry of kind ``fake``: the model seam (:class:`backend.model.Model`) with no weights.

    A "token" is a whitespace-separated word, so ``max_new_tokens`` limits words.
    """

    def __init__(self, spec: ModelSpec) -> None:
        if spec.kind is not ModelKind.FAKE:
            raise ValueError(f"model {spec.name!r} is not a fake (kind {spec.kind.value})")
        if spec.behaviour not in BEHAVIOURS:
            known = ", ".join(sorted(BEHAVIOURS))
            raise ValueError(f"model {spec.name!r}: no fake behaviour {spec.behaviour!r} (registered: {known})")
        self.spec = spec
        self.behaviour = BEHAVIOURS[spec.behaviour]
        self.info = LoadInfo(name=spec.name, source=spec.source, revision=None, commit=None, quantization="none",
                             dtype="none", device="cpu", reason="a fake model: no weights", footprint_bytes=0)
        self.calls = 0
        """Calls of :meth:`generate`, :meth:`score` and :meth:`stream` (tests count them)."""

    @property
    def name(self) -> str:
        """The registry name."""
        return self.spec.name

    @property
    def has_chat_template(self) -> bool:
        """Fakes render chat turns as plain ``ROLE: text`` lines, so yes."""
        return True

    def _answer(self, prompt: str, images: Sequence[bytes], max_new_tokens: int, stop: Sequence[str]) -> str:
        words = _words(self.behaviour.answer(prompt, images))
        return _cut("".join(words[:max_new_tokens]), stop)[0]

    def generate(
        self,
        requests: Sequence[Request],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        stop_when: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """One continuation per request (``stop_when`` ends it at the first word that satisfies it)."""
        self.calls += 1
        out = []
        for request in requests:
            text = self._answer(request.prompt, request.images, max_new_tokens, stop)
            if stop_when is not None:
                grown = ""
                for word in _words(text):
                    grown += word
                    if stop_when(grown):
                        break
                text = grown
            out.append(text)
        return out

    def stream(
        self,
        request: Request,
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        time_limit_s: float | None = None,
    ) -> FakeStream:
        """The answer as word chunks, with the behaviour's delay between them."""
        self.calls += 1
        text = self.behaviour.answer(request.prompt, request.images)
        return FakeStream(text, max_new_tokens=max_new_tokens, stop=stop, delay_s=self.behaviour.delay_s,
                          cancel=cancel, time_limit_s=time_limit_s)

    def score(self, requests: Sequence[Request], candidates: Sequence[str]) -> list[dict[str, float]]:
        """The behaviour's next-token log-probabilities of ``candidates`` after each prompt."""
        self.calls += 1
        return [self.behaviour.scores(r.prompt, r.images, candidates) for r in requests]

    def render_chat(self, turns: Sequence[ChatTurn]) -> str:
        """A plain ``ROLE: text`` rendering with ``<image>`` placeholders, ending with ``ASSISTANT:``."""
        parts = [f"{t.role.upper()}: {'<image>' * t.images}{t.text}\n" for t in turns]
        return "".join(parts) + "ASSISTANT:"
