"""Upstream's result files: the layout ``eval.py`` writes, read and written in one place (spec section 5).

``{name}_final_evaluation_results.json``::

    {"Forget Set Results": {
       "fill_in_the_blank": {"image_textual_accuracy": 28.26, "pure_text_accuracy": 8.70},
       "classification": {"Image-Textual Question Accuracy": 49.17, "Pure Text Question Accuracy": 46.67},
       "generation": {"Average ROUGE-L (Image_Textual)": 0.5708, ...}},
     "Test Set Results": {...}, "Retain Set (shared dataset) Results": {...},
     "Retain Set (real person) Results": {...}}

Key names differ between tasks (``image_textual_accuracy`` against
``Image-Textual Question Accuracy``); accuracies are percentages, ROUGE and
BLEU fractions. :func:`parse_upstream` accepts both key styles for both
accuracy tasks and any subset of sets and tasks (files in the wild are often
partial); :func:`upstream_results` writes upstream's exact key names and order.
``{mode}_generation_results.json`` (:func:`generation_results`) is upstream's
dump of every generation answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from benchmark.errors import FieldIssue, ValidationFailed
from benchmark.metrics import CellKey, Unit, metric_units, metrics_for
from benchmark.records import CellValue, SampleRecord
from benchmark.submission import Cell
from benchmark.validation import unknown_key_message
from benchmark.vocabulary import EvalSet, Modality, Task

UPSTREAM_PROTOCOL_VERSION = "upstream"
"""Protocol version recorded for results produced by upstream's own ``eval.py``."""

UPSTREAM_SET_KEYS: dict[EvalSet, str] = {
    EvalSet.FORGET: "Forget Set Results",
    EvalSet.TEST: "Test Set Results",
    EvalSet.RETAIN: "Retain Set (shared dataset) Results",
    EvalSet.CELEBRITY: "Retain Set (real person) Results",
}
"""Upstream's top-level key of each evaluation set."""

UPSTREAM_TASK_KEYS: dict[Task, str] = {
    Task.CLOZE: "fill_in_the_blank",
    Task.CLASSIFICATION: "classification",
    Task.GENERATION: "generation",
}
"""Upstream's key of each task inside a set, in upstream's order."""

UPSTREAM_MODES: dict[EvalSet, str] = {
    EvalSet.FORGET: "forget",
    EvalSet.TEST: "test",
    EvalSet.RETAIN: "retain_shared",
    EvalSet.CELEBRITY: "retain_celebrity",
}
"""Upstream's ``mode`` names, used in its generation-results file names."""

_UPSTREAM_GEN_METRIC = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "bleu": "BLEU"}


def upstream_metric_key(task: Task, modality: Modality, metric: str) -> str:
    """The key upstream ``eval.py`` writes for a cell (its names differ between tasks)."""
    image = modality is Modality.IMAGE_TEXT
    if task is Task.CLOZE:
        return "image_textual_accuracy" if image else "pure_text_accuracy"
    if task is Task.CLASSIFICATION:
        return "Image-Textual Question Accuracy" if image else "Pure Text Question Accuracy"
    return f"Average {_UPSTREAM_GEN_METRIC[metric]} ({modality.upstream_type})"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _upstream_metric_names() -> dict[Task, dict[str, tuple[Modality, str]]]:
    """Every accepted upstream metric key (as written upstream) -> (modality, canonical metric)."""
    accuracy = {
        # Both key styles are accepted for both accuracy tasks: upstream uses one per task.
        upstream_metric_key(task, m, "accuracy"): (m, "accuracy")
        for task in (Task.CLOZE, Task.CLASSIFICATION)
        for m in Modality
    }
    generation = {
        upstream_metric_key(Task.GENERATION, m, metric.name): (m, metric.name)
        for metric in metrics_for(Task.GENERATION)
        for m in Modality
    }
    return {Task.CLASSIFICATION: accuracy, Task.CLOZE: accuracy, Task.GENERATION: generation}


_METRIC_NAMES = _upstream_metric_names()
_SET_BY_NORM = {_norm(v): k for k, v in UPSTREAM_SET_KEYS.items()}
_TASK_BY_NORM = {_norm(v): k for k, v in UPSTREAM_TASK_KEYS.items()} | {"cloze": Task.CLOZE}
_METRICS_BY_NORM = {task: {_norm(k): v for k, v in names.items()} for task, names in _METRIC_NAMES.items()}


def looks_upstream(doc: Mapping[str, Any]) -> bool:
    """True when ``doc`` has at least one key that is (or nearly is) an upstream set key."""
    return any(_norm(k) in _SET_BY_NORM or _norm(k).endswith("results") for k in doc)


# --------------------------------------------------------------------------- reading


def parse_upstream(doc: Mapping[str, Any], *, accuracy_unit: Unit = Unit.PERCENT) -> list[Cell]:
    """The cells of an upstream results document, exactly those present.

    Args:
        doc: The decoded ``*_final_evaluation_results.json``.
        accuracy_unit: Scale of the accuracies in the file. Upstream writes percentages; pass
            ``Unit.FRACTION`` for a file whose accuracies are 0-1 (they are then multiplied by 100).

    Raises:
        ValidationFailed: With every unknown key (and its nearest known name), wrong type,
            non-finite or out-of-range value, duplicate cell, or when no cell is present at all.
    """
    issues: list[FieldIssue] = []
    cells: dict[CellKey, Cell] = {}
    set_names = list(UPSTREAM_SET_KEYS.values())
    for set_key, tasks in doc.items():
        eval_set = _SET_BY_NORM.get(_norm(set_key))
        if eval_set is None:
            issues.append(FieldIssue(set_key, unknown_key_message(set_key, set_names, what="set")))
            continue
        if not isinstance(tasks, Mapping):
            issues.append(FieldIssue(set_key, f"must be an object of tasks, got {type(tasks).__name__}"))
            continue
        for task_key, metrics in tasks.items():
            task = _TASK_BY_NORM.get(_norm(task_key))
            where = f"{set_key}.{task_key}"
            if task is None:
                issues.append(
                    FieldIssue(where, unknown_key_message(task_key, UPSTREAM_TASK_KEYS.values(), what="task"))
                )
                continue
            if not isinstance(metrics, Mapping):
                issues.append(FieldIssue(where, f"must be an object of metrics, got {type(metrics).__name__}"))
                continue
            for metric_key, value in metrics.items():
                path = f"{where}.{metric_key}"
                found = _METRICS_BY_NORM[task].get(_norm(metric_key))
                if found is None:
                    known = _METRIC_NAMES[task]
                    issues.append(FieldIssue(path, unknown_key_message(metric_key, known, what=f"{task_key} metric")))
                    continue
                modality, metric = found
                unit = metric_units(task)[metric]
                given_unit = accuracy_unit if unit is Unit.PERCENT else Unit.FRACTION
                hint = (
                    "accuracies are percentages, 0-100"
                    if given_unit is Unit.PERCENT
                    else "accuracies were declared as fractions, 0-1"
                    if unit is Unit.PERCENT
                    else "ROUGE and BLEU are fractions, 0-1"
                )
                problem = given_unit.problem(value, hint)
                if problem:
                    issues.append(FieldIssue(path, problem))
                    continue
                key = CellKey(eval_set, task, modality, metric)
                if key in cells:
                    issues.append(FieldIssue(path, f"gives cell {key.id} a second time (another key style?)"))
                    continue
                number = float(value) * (100.0 if given_unit is not unit else 1.0)
                cells[key] = Cell(set=eval_set, task=task, modality=modality, metric=metric, unit=unit, value=number)
    if not issues and not cells:
        issues.append(FieldIssue("file", "contains no result cells (expected keys like 'Forget Set Results')"))
    if issues:
        raise ValidationFailed(issues, source="upstream results file")
    return list(cells.values())


# --------------------------------------------------------------------------- writing


def upstream_results(cells: Mapping[CellKey, CellValue]) -> dict[str, Any]:
    """The upstream ``*_final_evaluation_results.json`` object, in upstream key order.

    Cells without questions are left out rather than written as 0 (upstream
    writes 0 for an empty accuracy, which would read as a real score).
    """
    out: dict[str, Any] = {}
    for s in EvalSet:
        per_task: dict[str, Any] = {}
        for t in UPSTREAM_TASK_KEYS:
            block: dict[str, float] = {}
            for m in Modality:
                for metric in metrics_for(t):
                    cell = cells.get(CellKey(s, t, m, metric.name))
                    if cell is not None:
                        block[upstream_metric_key(t, m, metric.name)] = cell.value
            if block:
                per_task[UPSTREAM_TASK_KEYS[t]] = block
        if per_task:
            out[UPSTREAM_SET_KEYS[s]] = per_task
    return out


def generation_results(records: Iterable[SampleRecord], eval_set: EvalSet) -> dict[str, Any]:
    """Upstream's ``{mode}_generation_results.json`` object for one set."""
    return {
        "Generation_Questions": [
            {
                "image_id": r.profile_id,
                "question type": r.modality.upstream_type,
                "question": r.question,
                "generated_answer": r.answer,
                "ground_truth": r.reference,
            }
            for r in records
            if r.task is Task.GENERATION and r.eval_set is eval_set
        ]
    }
