"""Metrics: small pure functions registered by name, with a task, a scale and a direction.

A metric scores one extracted answer against its reference; aggregates are the
mean of the per-sample values, shown on the metric's scale (accuracies in
percent, 0-100, as upstream prints them; ROUGE and BLEU as fractions, 0-1).

Direction: every metric here measures how much the model still *knows*, so
higher means more knowledge. Whether that is good depends on the evaluation
set (forget and test: lower is better; retain and celebrity: higher is
better, see :attr:`probes.schema.EvalSet.lower_is_better`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from probes.schema import Task

Scale = Literal["percent", "fraction"]


@dataclass(frozen=True)
class Metric:
    """A registered metric."""

    name: str
    """Canonical name, as used in sample records, submissions and the leaderboard."""
    task: Task
    """The task whose answers it scores."""
    scale: Scale
    """``percent``: the aggregate is the mean x 100 (0-100); ``fraction``: the mean (0-1)."""
    higher_is_better: bool
    """Direction as a knowledge measure (the evaluation set may flip what is desirable)."""
    description: str
    """One line for the README and the About tab."""
    fn: Callable[[str, str], float]
    """``fn(answer, reference) -> value`` in [0, 1]."""

    def aggregate(self, values: Iterable[float]) -> float | None:
        """The mean of per-sample values on this metric's scale; ``None`` when there are none."""
        vals = list(values)
        if not vals:
            return None
        mean = sum(vals) / len(vals)
        return mean * 100 if self.scale == "percent" else mean


METRICS: dict[tuple[Task, str], Metric] = {}
"""All registered metrics by (task, name), in registration order. Names are unique within a task."""


def register_metric(
    name: str, *, task: Task, scale: Scale, description: str, higher_is_better: bool = True
) -> Callable[[Callable[[str, str], float]], Callable[[str, str], float]]:
    """Register ``fn(answer, reference) -> float`` as metric ``name`` of ``task``."""

    def wrap(fn: Callable[[str, str], float]) -> Callable[[str, str], float]:
        if (task, name) in METRICS:
            raise ValueError(f"metric {name!r} is already registered for {task.value}")
        METRICS[(task, name)] = Metric(name, task, scale, higher_is_better, description, fn)
        return fn

    return wrap


def metrics_for(task: Task) -> list[Metric]:
    """The metrics that score ``task``, in registration order."""
    return [m for m in METRICS.values() if m.task is task]


@register_metric(
    "accuracy",
    task=Task.CLASSIFICATION,
    scale="percent",
    description="Multiple choice: the extracted letter equals the correct one (unparsable answers count as wrong).",
)
def choice_accuracy(answer: str, reference: str) -> float:
    """1.0 when the extracted letter ``answer`` equals the correct letter ``reference``."""
    return float(bool(answer) and answer == reference)


@register_metric(
    "accuracy",
    task=Task.CLOZE,
    scale="percent",
    description="Cloze: the ground truth appears in the answer, case-insensitively (upstream's substring rule).",
)
def cloze_accuracy(answer: str, reference: str) -> float:
    """1.0 when ``reference.lower()`` is a substring of ``answer.lower()``."""
    return float(reference.lower() in answer.lower())


@functools.cache
def _rouge_scorer() -> object:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def _rouge(kind: str, answer: str, reference: str) -> float:
    scores = _rouge_scorer().score(reference, answer)  # type: ignore[attr-defined]
    return float(scores[kind].fmeasure)


@register_metric(
    "rouge1",
    task=Task.GENERATION,
    scale="fraction",
    description="Generation: ROUGE-1 F-measure (rouge-score, Porter stemmer on).",
)
def rouge1(answer: str, reference: str) -> float:
    """ROUGE-1 F-measure of ``answer`` against ``reference``."""
    return _rouge("rouge1", answer, reference)


@register_metric(
    "rouge2",
    task=Task.GENERATION,
    scale="fraction",
    description="Generation: ROUGE-2 F-measure (rouge-score, Porter stemmer on).",
)
def rouge2(answer: str, reference: str) -> float:
    """ROUGE-2 F-measure of ``answer`` against ``reference``."""
    return _rouge("rouge2", answer, reference)


@register_metric(
    "rougeL",
    task=Task.GENERATION,
    scale="fraction",
    description="Generation: ROUGE-L F-measure (rouge-score, Porter stemmer on); the headline metric.",
)
def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure of ``answer`` against ``reference``."""
    return _rouge("rougeL", answer, reference)


@register_metric(
    "bleu",
    task=Task.GENERATION,
    scale="fraction",
    description="Generation: sentence BLEU on whitespace tokens (NLTK, smoothing method1).",
)
def bleu(answer: str, reference: str) -> float:
    """NLTK sentence BLEU of whitespace-split ``answer`` against ``reference`` with smoothing method1."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return float(sentence_bleu([reference.split()], answer.split(), smoothing_function=SmoothingFunction().method1))


def score(task: Task, answer: str, reference: str) -> dict[str, float]:
    """Every metric of ``task`` for one answer, by metric name."""
    return {m.name: m.fn(answer, reference) for m in metrics_for(task)}
