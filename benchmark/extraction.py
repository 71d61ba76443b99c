"""Answer extraction: from a model's raw continuation to the answer that is scored, as a named stage.

Upstream decodes prompt and continuation together and keeps the text between
the first ``ASSISTANT:`` (the one that ends every prompt) and the next one, so
the answer is the continuation cut at its first ``ASSISTANT:``, stripped
(spec section 3). Multiple choice then scores the answer's first character.
The strict protocol reads the letter from next-token log-probabilities instead.
"""

from __future__ import annotations

import math

from benchmark.vocabulary import LETTERS

ASSISTANT = "ASSISTANT:"
"""Upstream's answer delimiter: every prompt ends with it, and a continuation is cut at the next one."""


def official_answer(raw_output: str) -> str:
    """Upstream's answer text: the continuation up to the next ``ASSISTANT:``, stripped."""
    return raw_output.split(ASSISTANT, 1)[0].strip()


def official_letter(answer: str) -> str | None:
    """Upstream's multiple-choice parse: the answer's first character, upper-cased, if it is A-D."""
    first = answer[:1].upper()
    return first if first in LETTERS else None


def strict_letter(logprobs: dict[str, float]) -> str:
    """The strict protocol's choice: the letter with the highest next-token log-probability."""
    return max(LETTERS, key=lambda x: logprobs.get(x, -math.inf))


def first_char_decided(continuation: str) -> bool:
    """Whether a multiple-choice continuation's scored first character is final.

    The scored character is the first of :func:`official_answer`. It is final
    once the stripped continuation is non-empty and can no longer be the start
    of ``ASSISTANT:`` (which would make the answer empty instead), so a
    generator may stop there without changing the score.
    """
    text = continuation.lstrip()
    return bool(text) and not ASSISTANT.startswith(text)
