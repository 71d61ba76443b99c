"""Metrics: small pure functions registered by name, with a task, a unit, a direction and a headline flag.

This registry is the one source of metric facts for evaluation, the
leaderboard and unlearning. A metric scores one extracted answer against its
reference; aggregates are the mean of the per-sample values, on the metric's
unit (accuracies in percent, 0-100, as upstream prints them; ROUGE and BLEU as
fractions, 0-1). Each task has one *headline* metric, the one the paper
reports (accuracy, ROUGE-L, accuracy): the leaderboard's default columns and
its summary scores use it.

Direction: every metric here measures how much the model still *knows*, so
higher means more knowledge. Whether that is good depends on the evaluation
set (forget and test: lower is better; retain and celebrity: higher is
better, see :attr:`benchmark.vocabulary.EvalSet.lower_is_better`).

A *cell* (:class:`CellKey`) is one aggregate: set x task x modality x metric.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from benchmark.validation import unknown_key_message
from benchmark.vocabulary import EvalSet, Modality, Task


class Unit(StrEnum):
    """The scale a cell's value is written on."""

    PERCENT = "percent"
    """0-100 (accuracies, as upstream prints them)."""
    FRACTION = "fraction"
    """0-1 (ROUGE F-measures and BLEU)."""

    @property
    def bounds(self) -> tuple[float, float]:
        """Inclusive (low, high) bounds of a value on this scale."""
        return (0.0, 100.0) if self is Unit.PERCENT else (0.0, 1.0)

    @property
    def to_percent(self) -> float:
        """Factor that puts a value on the 0-100 scale (used by the summary scores)."""
        return 1.0 if self is Unit.PERCENT else 100.0

    def problem(self, value: object, hint: str) -> str | None:
        """What is wrong with ``value`` as a number on this scale (``hint`` names the scale), or None."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {type(value).__name__} {value!r:.40}"
        if not math.isfinite(value):
            return f"must be a finite number, got {value}"
        low, high = self.bounds
        if not low <= value <= high:
            return f"{value} is out of range [{low:g}, {high:g}] ({hint})"
        return None


@dataclass(frozen=True)
class Metric:
    """A registered metric."""

    name: str
    """Canonical name, as used in sample records, submissions and the leaderboard."""
    task: Task
    """The task whose answers it scores."""
    unit: Unit
    """``percent``: the aggregate is the mean x 100 (0-100); ``fraction``: the mean (0-1)."""
    higher_is_better: bool
    """Direction as a knowledge measure (the evaluation set may flip what is desirable)."""
    headline: bool
    """The task's headline metric (the paper's): default leaderboard column, summary scores."""
    description: str
    """One line for the README and the About tab."""
    fn: Callable[[str, str], float]
    """``fn(answer, reference) -> value`` in [0, 1]."""

    def aggregate(self, values: Iterable[float]) -> float | None:
        """The mean of per-sample values on this metric's unit; ``None`` when there are none."""
        vals = list(values)
        if not vals:
            return None
        mean = sum(vals) / len(vals)
        return mean * 100 if self.unit is Unit.PERCENT else mean


METRICS: dict[tuple[Task, str], Metric] = {}
"""All registered metrics by (task, name), in registration (display) order. Names are unique within a task."""


def register_metric(
    name: str, *, task: Task, unit: Unit, description: str, higher_is_better: bool = True, headline: bool = False
) -> Callable[[Callable[[str, str], float]], Callable[[str, str], float]]:
    """Register ``fn(answer, reference) -> float`` as metric ``name`` of ``task``."""

    def wrap(fn: Callable[[str, str], float]) -> Callable[[str, str], float]:
        if (task, name) in METRICS:
            raise ValueError(f"metric {name!r} is already registered for {task.value}")
        if headline and any(m.headline for m in metrics_for(task)):
            raise ValueError(f"{task.value} already has a headline metric")
        METRICS[(task, name)] = Metric(name, task, unit, higher_is_better, headline, description, fn)
        return fn

    return wrap


def metrics_for(task: Task) -> list[Metric]:
    """The metrics that score ``task``, in registration order."""
    return [m for m in METRICS.values() if m.task is task]


def metric_units(task: Task) -> dict[str, Unit]:
    """The canonical metric names of ``task``, in display order, with their units."""
    return {m.name: m.unit for m in metrics_for(task)}


def headline_metric(task: Task) -> Metric:
    """The headline metric of ``task`` (accuracy, ROUGE-L, accuracy)."""
    return next(m for m in metrics_for(task) if m.headline)


class CellKey(NamedTuple):
    """The coordinates of one aggregate cell: set x task x modality x metric."""

    set: EvalSet
    task: Task
    modality: Modality
    metric: str

    @property
    def id(self) -> str:
        """Stable string id, ``forget/classification/image_text/accuracy`` (used as a column name)."""
        return f"{self.set.value}/{self.task.value}/{self.modality.value}/{self.metric}"

    @property
    def unit(self) -> Unit:
        """The metric's declared unit."""
        return METRICS[(self.task, self.metric)].unit

    @property
    def lower_is_better(self) -> bool:
        """Whether a smaller value ranks better (decided by the set)."""
        return self.set.lower_is_better

    @classmethod
    def parse(cls, text: str) -> CellKey:
        """Inverse of :attr:`id`; ``ValueError`` for an unknown set, task, modality or metric."""
        eval_set, task, modality, metric = text.split("/")
        key = cls(EvalSet(eval_set), Task(task), Modality(modality), metric)
        if (key.task, metric) not in METRICS:
            raise ValueError(unknown_key_message(metric, metric_units(key.task), what=f"{task} metric"))
        return key


def all_cell_keys(*, headline_only: bool = False) -> list[CellKey]:
    """Every possible cell key in display order (set, task, modality, metric)."""
    return [
        CellKey(s, m.task, modality, m.name)
        for s in EvalSet
        for t in Task
        for modality in Modality
        for m in metrics_for(t)
        if not headline_only or m.headline
    ]


@register_metric(
    "accuracy",
    task=Task.CLASSIFICATION,
    unit=Unit.PERCENT,
    headline=True,
    description="Multiple choice: the extracted letter equals the correct one (unparsable answers count as wrong).",
)
def choice_accuracy(answer: str, reference: str) -> float:
    """1.0 when the extracted letter ``answer`` equals the correct letter ``reference``."""
    return float(bool(answer) and answer == reference)


@register_metric(
    "accuracy",
    task=Task.CLOZE,
    unit=Unit.PERCENT,
    headline=True,
    description="Cloze: the ground truth appears in the answer, case-insensitively (upstream's substring rule).",
)
def cloze_accuracy(answer: str, reference: str) -> float:
    """1.0 when ``reference.lower()`` is a substring of ``answer.lower()``."""
    return float(reference.lower() in answer.lower())


@functools.cache
def _rouge_scorer() -> object:
    _await_warming()
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


@functools.lru_cache(maxsize=64)
def _rouge_scores(answer: str, reference: str) -> dict[str, Any]:
    """All three ROUGE scores of one answer (asked for by three metrics in a row: computed once)."""
    return _rouge_scorer().score(reference, answer)  # type: ignore[attr-defined]


def _rouge(kind: str, answer: str, reference: str) -> float:
    return float(_rouge_scores(answer, reference)[kind].fmeasure)


def warm() -> None:
    """Import the scoring libraries (rouge-score and NLTK: 0.3-0.9 s) now."""
    _rouge_scorer()
    from nltk.translate import bleu_score  # noqa: F401


_warming: threading.Thread | None = None
_warming_lock = threading.Lock()


def warm_in_background() -> None:
    """Start :func:`warm` in a thread (once per process), e.g. while a model answers.

    Scoring waits for that thread before it imports anything itself, so the two never import the same package at
    once (concurrent imports of one package can see it half initialised).
    """
    global _warming
    with _warming_lock:
        if _warming is None:
            _warming = threading.Thread(target=warm, name="warm-metrics", daemon=True)
            _warming.start()


def _await_warming() -> None:
    thread = _warming
    if thread is not None and thread is not threading.current_thread():
        thread.join()


@register_metric(
    "rouge1",
    task=Task.GENERATION,
    unit=Unit.FRACTION,
    description="Generation: ROUGE-1 F-measure (rouge-score, Porter stemmer on).",
)
def rouge1(answer: str, reference: str) -> float:
    """ROUGE-1 F-measure of ``answer`` against ``reference``."""
    return _rouge("rouge1", answer, reference)


@register_metric(
    "rouge2",
    task=Task.GENERATION,
    unit=Unit.FRACTION,
    description="Generation: ROUGE-2 F-measure (rouge-score, Porter stemmer on).",
)
def rouge2(answer: str, reference: str) -> float:
    """ROUGE-2 F-measure of ``answer`` against ``reference``."""
    return _rouge("rouge2", answer, reference)


@register_metric(
    "rougeL",
    task=Task.GENERATION,
    unit=Unit.FRACTION,
    headline=True,
    description="Generation: ROUGE-L F-measure (rouge-score, Porter stemmer on); the headline metric.",
)
def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure of ``answer`` against ``reference``."""
    return _rouge("rougeL", answer, reference)


@register_metric(
    "bleu",
    task=Task.GENERATION,
    unit=Unit.FRACTION,
    description="Generation: sentence BLEU on whitespace tokens (NLTK, smoothing method1).",
)
def bleu(answer: str, reference: str) -> float:
    """NLTK sentence BLEU of whitespace-split ``answer`` against ``reference`` with smoothing method1."""
    _await_warming()
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return float(sentence_bleu([reference.split()], answer.split(), smoothing_function=SmoothingFunction().method1))


def score(task: Task, answer: str, reference: str) -> dict[str, float]:
    """Every metric of ``task`` for one answer, by metric name."""
    return {m.name: m.fn(answer, reference) for m in metrics_for(task)}
