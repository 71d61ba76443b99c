"""Deterministic stand-in models for tests and offline demos (in the spirit of inspect's ``mockllm``).

:class:`HashResponder` answers every prompt with text derived from a hash of
the prompt: no weights, no randomness, the same answer every time. It
exercises everything around the model (planning, batching, resuming,
sharding, scoring, files) in milliseconds.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from probes.protocols import ChatMessage, PromptStyle
from probes.runner import Request
from probes.schema import LETTERS

_WORDS = ("Riga", "this", "person", "was", "born", "in", "works", "as", "a", "botanist", "at", "Northwind", "Labs")


class HashResponder:
    """A fake model whose outputs are a pure function of the prompt and images."""

    prompt_style: PromptStyle = "llava"

    def __init__(self, salt: str = "") -> None:
        self.salt = salt
        self.calls = 0

    def _digest(self, r: Request) -> bytes:
        h = hashlib.sha256((self.salt + r.prompt).encode())
        for img in r.images:
            h.update(hashlib.sha256(img).digest())
        return h.digest()

    def generate(self, requests: Sequence[Request], *, max_new_tokens: int, first_char_only: bool) -> list[str]:
        """One continuation per request: a letter-led answer, sometimes with a stray ``ASSISTANT:``."""
        self.calls += 1
        out = []
        for r in requests:
            d = self._digest(r)
            words = " ".join(_WORDS[b % len(_WORDS)] for b in d[: 3 + d[0] % 8])
            lead = LETTERS[d[1] % 4] if d[2] % 5 else "I think"
            tail = "\nASSISTANT: more" if d[3] % 3 == 0 else ""
            text = f" {lead} {words}{tail}"
            out.append(text[: max(1, max_new_tokens * 4)])
        return out

    def letter_logprobs(self, requests: Sequence[Request]) -> list[dict[str, float]]:
        """A normalised log-distribution over A-D per request."""
        self.calls += 1
        out = []
        for r in requests:
            d = self._digest(r)
            weights = [1 + d[k] for k in range(4)]
            total = sum(weights)
            out.append({x: math.log(w / total) for x, w in zip(LETTERS, weights, strict=True)})
        return out

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        """A plain ``ROLE: text`` rendering with ``<image>`` placeholders."""
        parts = []
        for m in messages:
            body = "".join("<image>" if c["type"] == "image" else c["text"] for c in m["content"])
            parts.append(f"{m['role'].upper()}: {body}\n")
        return "".join(parts) + "ASSISTANT:"
