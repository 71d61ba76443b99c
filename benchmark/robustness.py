"""Robustness results: does forgetting hold when someone tries to bring the knowledge back?

``python -m probes.stress`` runs the forget and retain sets of a model under
attacks (lower precision, a few relearning steps, prompt tricks, transformed
portraits, the other modality) and writes ``NAME_robustness.json``, a
:class:`RobustnessFile`. The leaderboard ingests it beside the row's result
file. Layout (version 1)::

    {"schema_version": 1,
     "kind": "robustness",
     "metadata": {"model_name": "demo-ga", "reference_name": "demo-vanilla", "forget_ratio": 10,
                  "protocol": "official", "protocol_version": "1.2", "quick": true, ...},
     "provenance": {...},                          # as in a submission file
     "attacks": [{"name": "precision-4bit", "family": "precision", "label": "4-bit nf4",
                  "description": "...", "changed": 72,
                  "forget": {"value": 41.2, "low": 33.0, "high": 49.9, "n": 72},
                  "forget_unlearned": {...}, "forget_reference": {...},
                  "retain": {...}, "recovery": {"value": 0.31, "low": 0.12, "high": 0.52, "n": 72}}, ...]}

**Scores** are on the leaderboard's 0-100 scale: a set's score is the mean of
its headline cells (accuracy, ROUGE-L x 100, accuracy; both modalities), as
``leaderboard.table`` defines ``forget_score`` and ``retain_score``.

**Recovery** of an attack is how much of what unlearning removed came back,
on the forget set and on the same questions for all three numbers::

    recovery = (attacked - unlearned) / (reference - unlearned)

``attacked`` is the unlearned model under the attack, ``unlearned`` the same
model without it, ``reference`` the model before unlearning (the vanilla
fine-tune) without it. 0 means nothing came back, 1 means everything did;
it can fall below 0 (the attack hurt) or rise above 1. When unlearning removed
less than :data:`MIN_REMOVED` points there is nothing to recover and recovery
is ``null``. Intervals (95 %) come from a paired, stratified bootstrap over
questions (:func:`estimates`), with a fixed seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from benchmark.errors import FieldIssue, UnsupportedSchemaVersion, ValidationFailed
from benchmark.files import atomic_write
from benchmark.metrics import headline_metric
from benchmark.records import SampleRecord
from benchmark.submission import MAX_SUBMISSION_BYTES, Provenance, StrictStr
from benchmark.validation import issues_from_pydantic, load_json_document, refused_character
from benchmark.vocabulary import EvalSet, Protocol

SCHEMA_VERSION = 1
"""The version this code writes and reads."""

KIND = "robustness"
"""The ``kind`` every robustness file carries, which tells it apart from a result file."""

MIN_REMOVED = 1.0
"""Points (0-100) unlearning must have removed on the forget set for a recovery to be defined."""

BOOTSTRAP_RESAMPLES = 2000
"""Paired bootstrap resamples behind every interval."""

BOOTSTRAP_SEED = 0
"""Seed of the bootstrap (the same records always give the same intervals)."""


class AttackFamily(StrEnum):
    """What kind of pressure an attack applies; the leaderboard shows one recovery column per family."""

    BASELINE = "baseline"
    """No attack: the model as ``probes.evaluate`` runs it."""
    PRECISION = "precision"
    """The same weights loaded at lower precision (8-bit, 4-bit nf4)."""
    RELEARNING = "relearning"
    """A few fine-tuning steps on some forget people, then the others' questions."""
    PROMPT = "prompt"
    """Rephrased questions, few-shot priming, a prefilled answer, a system prompt."""
    IMAGE = "image"
    """The portrait transformed: crop, grayscale, blur, flip, colour jitter."""
    MODALITY = "modality"
    """The question through the other modality: a name for the portrait, or the portrait for the name."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _visible(value: str) -> str:
    """Refuse control and invisible characters (bidi overrides, zero-width spaces) in text shown on the board."""
    problem = refused_character(value)
    if problem is not None:
        raise ValueError(problem)
    return value


VisibleStr = Annotated[StrictStr, AfterValidator(_visible)]
"""Text a reader sees: strict, without control or invisible characters."""


class Estimate(_Model):
    """A number with its 95 % interval and the count of questions behind it."""

    value: float = Field(description="The point estimate.")
    low: float | None = Field(default=None, description="Lower end of the 95 % interval.")
    high: float | None = Field(default=None, description="Upper end of the 95 % interval.")
    n: int = Field(ge=0, description="Questions behind the estimate.")

    @field_validator("value", "low", "high")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return value


class AttackResult(_Model):
    """One attack's effect on the forget and retain sets."""

    name: StrictStr = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9.-]*$",
                            description="Registered attack name, e.g. 'precision-4bit' or 'none'.")
    family: AttackFamily = Field(description="baseline, precision, relearning, prompt, image or modality.")
    label: VisibleStr = Field(min_length=1, max_length=80, description="Short human label, e.g. '4-bit nf4'.")
    description: VisibleStr = Field(default="", max_length=1000, description="What the attack does.")
    changed: int = Field(ge=0, description="Forget and retain questions the attack changed (the rest were reused).")
    forget: Estimate = Field(description="Forget-set score of the attacked model (0-100, lower is better).")
    forget_unlearned: Estimate = Field(description="The unlearned model's forget score, no attack, same questions.")
    forget_reference: Estimate = Field(description="The reference model's forget score, no attack, same questions.")
    retain: Estimate | None = Field(default=None, description="Retain-set score of the attacked model (0-100).")
    recovery: Estimate | None = Field(
        default=None, description="(attacked - unlearned) / (reference - unlearned); null when nothing was removed."
    )


class RobustnessMetadata(_Model):
    """Which model was attacked, against which reference, how."""

    model_name: VisibleStr = Field(min_length=1, max_length=200, description="The attacked (unlearned) model.")
    reference_name: VisibleStr = Field(min_length=1, max_length=200,
                                      description="The model before unlearning that recovery is measured against.")
    forget_ratio: Literal[5, 10, 15] = Field(description="Forget split: 5, 10 or 15.")
    protocol: Protocol = Field(description="official or strict.")
    protocol_version: VisibleStr = Field(min_length=1, max_length=40, description="Version of the protocol.")
    quick: bool = Field(default=False, description="A --quick run (fewer retain people; see the CLI's help).")
    limit: int | None = Field(default=None, ge=1, description="Profiles per set, when limited.")


class RobustnessFile(_Model):
    """A versioned robustness result: one model under every attack."""

    schema_version: Literal[1] = Field(default=1, description="Version of this file layout.")
    kind: Literal["robustness"] = Field(default="robustness", description="Always 'robustness'.")
    metadata: RobustnessMetadata
    provenance: Provenance | None = Field(default=None, description="How the baseline run was produced.")
    attacks: tuple[AttackResult, ...] = Field(description="One result per attack, the baseline ('none') first.")

    @field_validator("attacks")
    @classmethod
    def _unique(cls, attacks: tuple[AttackResult, ...]) -> tuple[AttackResult, ...]:
        if not attacks:
            raise ValueError("is empty; a robustness file needs at least one attack")
        seen: set[str] = set()
        for index, attack in enumerate(attacks):
            if attack.name in seen:
                raise ValueError(f"attacks[{index}] repeats attack {attack.name!r}")
            seen.add(attack.name)
        return attacks

    def attack(self, name: str) -> AttackResult | None:
        """The result of one attack, or ``None``."""
        return next((a for a in self.attacks if a.name == name), None)

    def worst_forget(self) -> AttackResult:
        """The attack under which the forget score is highest (the strongest attack), baseline included."""
        return max(self.attacks, key=lambda a: a.forget.value)

    def family_recovery(self) -> dict[AttackFamily, float]:
        """The highest recovery within each attack family that has a defined one."""
        out: dict[AttackFamily, float] = {}
        for a in self.attacks:
            if a.recovery is not None and a.family is not AttackFamily.BASELINE:
                out[a.family] = max(out.get(a.family, -math.inf), a.recovery.value)
        return out


# --------------------------------------------------------------------------- reading and writing


def is_robustness_document(doc: Mapping[str, Any]) -> bool:
    """Whether a decoded JSON object says it is a robustness file."""
    return doc.get("kind") == KIND


def read_robustness(source: bytes | str | Path | Mapping[str, Any], *, max_bytes: int = MAX_SUBMISSION_BYTES
                    ) -> RobustnessFile:
    """Read and validate a robustness file.

    Raises:
        ValidationFailed: One issue per problem, each naming its field.
        UnsupportedSchemaVersion: A newer or unknown ``schema_version``.
    """
    if isinstance(source, Path):
        source = source.read_bytes()
    doc = dict(source) if isinstance(source, Mapping) else load_json_document(source, max_bytes=max_bytes)
    if "schema_version" not in doc:
        raise ValidationFailed([FieldIssue("schema_version", "required field is missing (expected the first key)")],
                               source="robustness file")
    version = doc["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version != SCHEMA_VERSION:
        raise UnsupportedSchemaVersion(version, SCHEMA_VERSION)
    try:
        return RobustnessFile.model_validate(doc)
    except ValidationError as exc:
        raise ValidationFailed(issues_from_pydantic(exc, RobustnessFile, document=doc),
                               source="robustness file") from None


def dump_robustness(result: RobustnessFile) -> str:
    """The file's JSON text, ``schema_version`` first."""
    return json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_robustness(result: RobustnessFile, path: str | Path) -> Path:
    """Write ``result`` atomically."""
    return atomic_write(path, dump_robustness(result))


# --------------------------------------------------------------------------- scores from records


def _cells(records: Sequence[SampleRecord], eval_set: EvalSet) -> dict[tuple[str, str], dict[str, float]]:
    """``(task, modality) -> {question key: headline score on 0-100}`` for one set."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for r in records:
        if r.eval_set is eval_set:
            metric = headline_metric(r.task).name
            out.setdefault((r.task.value, r.modality.value), {})[r.key] = 100.0 * r.scores[metric]
    return out


def set_score(records: Sequence[SampleRecord], eval_set: EvalSet) -> float | None:
    """Mean of the set's headline cells (0-100), as the leaderboard's set score; ``None`` without questions."""
    cells = _cells(records, eval_set)
    if not cells:
        return None
    return sum(sum(v.values()) / len(v) for v in cells.values()) / len(cells)


def estimates(
    attacked: Sequence[SampleRecord],
    unlearned: Sequence[SampleRecord],
    reference: Sequence[SampleRecord],
    *,
    eval_set: EvalSet = EvalSet.FORGET,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[Estimate, Estimate, Estimate, Estimate | None]:
    """Scores of the three models and the recovery, on the questions all three answered, with intervals.

    The bootstrap resamples questions within each cell (task x modality), the same draw for the three models
    (they answered the same questions), so the interval of the recovery reflects how the three move together.

    Returns:
        ``(attacked, unlearned, reference, recovery)``; recovery is ``None`` when the reference is less than
        :data:`MIN_REMOVED` points above the unlearned model.

    Raises:
        ValueError: The three have no question of ``eval_set`` in common.
    """
    import numpy as np

    maps = [_cells(rs, eval_set) for rs in (attacked, unlearned, reference)]
    cells = sorted(set(maps[0]) & set(maps[1]) & set(maps[2]))
    arrays: list[np.ndarray] = []  # per cell: (3, n) scores of the shared questions
    for cell in cells:
        keys = sorted(set(maps[0][cell]) & set(maps[1][cell]) & set(maps[2][cell]))
        if keys:
            arrays.append(np.array([[m[cell][k] for k in keys] for m in maps]))
    if not arrays:
        raise ValueError(f"the attacked, unlearned and reference runs share no {eval_set.value} question")
    n = sum(a.shape[1] for a in arrays)
    point = np.mean([a.mean(axis=1) for a in arrays], axis=0)  # (3,)
    rng = np.random.default_rng(seed)
    boot = np.mean([a[:, rng.integers(0, a.shape[1], size=(resamples, a.shape[1]))].mean(axis=2)
                    for a in arrays], axis=0)  # (3, resamples)

    def estimate(value: float, draws: np.ndarray) -> Estimate:
        low, high = np.quantile(draws, [0.025, 0.975])
        return Estimate(value=float(value), low=float(low), high=float(high), n=n)

    scores = tuple(estimate(point[i], boot[i]) for i in range(3))
    removed = point[2] - point[1]
    recovery = None
    if removed >= MIN_REMOVED:
        gap = boot[2] - boot[1]
        ratios = np.where(np.abs(gap) > 1e-9, (boot[0] - boot[1]) / np.where(gap == 0, 1, gap), np.nan)
        ratios = ratios[np.isfinite(ratios)]
        value = (point[0] - point[1]) / removed
        recovery = estimate(value, ratios) if ratios.size else Estimate(value=float(value), n=n)
    return scores[0], scores[1], scores[2], recovery


def retain_estimate(records: Sequence[SampleRecord], *, resamples: int = BOOTSTRAP_RESAMPLES,
                    seed: int = BOOTSTRAP_SEED) -> Estimate | None:
    """The retain-set score of one run with its stratified bootstrap interval; ``None`` without retain questions."""
    import numpy as np

    cells = _cells(records, EvalSet.RETAIN)
    if not cells:
        return None
    arrays = [np.array(list(v.values())) for _, v in sorted(cells.items())]
    rng = np.random.default_rng(seed)
    boot = np.mean([a[rng.integers(0, a.size, size=(resamples, a.size))].mean(axis=1) for a in arrays], axis=0)
    low, high = np.quantile(boot, [0.025, 0.975])
    value = float(np.mean([a.mean() for a in arrays]))
    return Estimate(value=value, low=float(low), high=float(high), n=sum(a.size for a in arrays))
