"""Robustness files on the board: validated against their row, summarised for the table, kept verbatim.

A robustness file (:class:`benchmark.robustness.RobustnessFile`, written by ``python -m probes.stress``)
belongs to one row. It arrives with the row's result file (the Submit tab, ``/submit``) or later
(``/submit_robustness``, the Submit tab's "Add a robustness file" form) and is stored verbatim.

**Moderation.** A file sent with its submission shares the submission's fate: approving the
submission approves it, rejecting it rejects it. A file added later is pending, with its own id
(shown as ``R12``), until a moderator approves or rejects it (the moderation panel, ``/moderate``
with ``R12`` as the id). A row has at most one current (approved) file; approving a newer one marks
the previous one ``superseded``, and every version stays in the store, text and all.

**Matching.** The file's ``forget_ratio``, ``protocol`` and ``model_name`` must equal the row's:
recovery is measured for one model on one forget split under one protocol, and a file for
another model on a row would put another model's numbers on it.

**Summary.** The table shows, per row, the highest recovery within each attack family (x 100: the
percent of what unlearning removed that came back; below 0 the attack lowered the forget score, above
100 it exceeded the reference), the highest over every family, and the forget score (0-100) under the
strongest attack (:meth:`~benchmark.robustness.RobustnessFile.worst_forget`). The summary is computed
when the file is stored (:func:`summarise`) so the table never parses files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmark.errors import FieldIssue, ValidationFailed
from benchmark.robustness import AttackFamily, RobustnessFile, read_robustness
from benchmark.submission import MAX_SUBMISSION_BYTES
from benchmark.validation import load_json_document
from leaderboard.ingest import content_hash

FAMILIES: tuple[AttackFamily, ...] = tuple(f for f in AttackFamily if f is not AttackFamily.BASELINE)
"""The attack families with a recovery column, in display order."""

FAMILY_LABELS: dict[AttackFamily, str] = {
    AttackFamily.PRECISION: "precision",
    AttackFamily.RELEARNING: "relearning",
    AttackFamily.PROMPT: "prompts",
    AttackFamily.IMAGE: "images",
    AttackFamily.MODALITY: "other modality",
}

RECOVERY_COLUMNS: dict[AttackFamily, str] = {f: f"recovery_{f.value}" for f in FAMILIES}
"""Family -> the table column of its highest recovery (x 100)."""

RECOVERY_MAX = "recovery_max"
"""The table column of the highest recovery over every family (x 100)."""

WORST_FORGET = "robust_forget"
"""The table column of the forget score (0-100) under the strongest attack."""

ATTACK_COUNT = "robust_attacks"
"""The table column of the number of attacks in the row's file."""

WORST_ATTACK = "robust_worst_attack"
"""The table column (text) of the strongest attack's label, as the file gives it."""

ROBUSTNESS_COLUMNS: tuple[str, ...] = (WORST_FORGET, RECOVERY_MAX, *RECOVERY_COLUMNS.values(), ATTACK_COUNT)
"""The numeric robustness columns of a table frame, in order (``NaN`` where the row has no approved file);
the frame also has :data:`WORST_ATTACK` (text, ``None`` there)."""

ROBUSTNESS_DIRECTIONS: dict[str, bool] = {WORST_FORGET: True, RECOVERY_MAX: True,
                                          **dict.fromkeys(RECOVERY_COLUMNS.values(), True)}
"""Robustness column -> lower is better (every one: a low forget score and little recovery hold best)."""

ROBUSTNESS_LABELS: dict[str, str] = {
    WORST_FORGET: "Forget under strongest attack ↓",
    RECOVERY_MAX: "Recovery · any attack ↓",
    **{col: f"Recovery · {FAMILY_LABELS[f]} ↓" for f, col in RECOVERY_COLUMNS.items()},
}
"""Robustness column -> header."""

NOT_MEASURED = "not measured"
"""What a row without a robustness file shows in a robustness column (never zero, never blank)."""


@dataclass(frozen=True)
class ParsedRobustness:
    """A validated robustness file, ready to be stored; nothing has been written yet."""

    result: RobustnessFile
    raw: bytes
    """The uploaded file, verbatim."""
    content_hash: str
    """SHA-256 of its JSON content (key order and whitespace do not matter)."""
    filename: str | None = None

    @property
    def summary(self) -> dict[str, Any]:
        """What the table shows of it (:func:`summarise`)."""
        return summarise(self.result)


def parse_robustness(data: bytes, *, filename: str | None = None,
                     max_bytes: int = MAX_SUBMISSION_BYTES) -> ParsedRobustness:
    """Validate an uploaded robustness file; stores nothing.

    Raises:
        ValidationFailed: Every problem, each naming its field (fields are prefixed ``robustness.``); a
            result file given as a robustness file is refused with a hint.
    """
    try:
        doc = load_json_document(data, max_bytes=max_bytes)
        if doc.get("kind") != "robustness" and "cells" in doc:
            raise ValidationFailed([FieldIssue("kind", "this is a result file, not a robustness file; give the "
                                               "*.robustness.json that python -m probes.stress wrote")])
        result = read_robustness(doc, max_bytes=max_bytes)
    except ValidationFailed as exc:
        raise ValidationFailed([FieldIssue(f"robustness.{i.field}", i.message) for i in exc.issues],
                               source="robustness file") from None
    return ParsedRobustness(result, data, content_hash(doc), filename)


def check_matches(parsed: ParsedRobustness, *, model_name: str, forget_ratio: int, protocol: str,
                  row: str = "the results") -> None:
    """Refuse a file whose model, forget ratio or protocol differ from its row's.

    Raises:
        ValidationFailed: One issue per mismatch, naming the field (``robustness.metadata.forget_ratio``).
    """
    meta = parsed.result.metadata
    issues = []
    for name, theirs, ours in (("model_name", meta.model_name, model_name), ("forget_ratio", meta.forget_ratio,
                                                                              forget_ratio),
                               ("protocol", meta.protocol.value, protocol)):
        if theirs != ours:
            issues.append(FieldIssue(f"robustness.metadata.{name}",
                                     f"is {theirs!r} but {row} say {ours!r}; a robustness file must be for the "
                                     "same model, forget ratio and protocol as its row"))
    if issues:
        raise ValidationFailed(issues, source="robustness file")


def summarise(result: RobustnessFile) -> dict[str, Any]:
    """The table's view of a file: recovery per family and overall (x 100), the worst forget score, counts."""
    recovery = {f.value: 100.0 * v for f, v in result.family_recovery().items()}
    worst = result.worst_forget()
    return {
        "worst_forget": worst.forget.value,
        "worst_attack": worst.label,
        "recovery": recovery,
        "recovery_max": max(recovery.values()) if recovery else None,
        "attacks": len(result.attacks),
        "quick": result.metadata.quick,
        "reference_name": result.metadata.reference_name,
    }


def summary_row(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A stored summary as the table's robustness columns (``None`` where a family has no recovery)."""
    recovery = summary.get("recovery", {})
    return {
        WORST_ATTACK: summary.get("worst_attack"),
        WORST_FORGET: summary.get("worst_forget"),
        RECOVERY_MAX: summary.get("recovery_max"),
        **{col: recovery.get(f.value) for f, col in RECOVERY_COLUMNS.items()},
        ATTACK_COUNT: summary.get("attacks"),
    }


def dump_summary(result: RobustnessFile) -> str:
    """The summary as stored (JSON text)."""
    return json.dumps(summarise(result), allow_nan=False, sort_keys=True)
