"""Turn a run's sample records into the leaderboard's versioned submission file."""

from __future__ import annotations

import functools
import subprocess
from collections import Counter
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from leaderboard.schema import Cell, Provenance, Submission, SubmissionMetadata, Unit, dump_submission
from probes.metrics import METRICS
from probes.protocols import MAX_NEW_TOKENS
from probes.results import SampleRecord, aggregate
from probes.runner import RunConfig

PACKAGES = ("torch", "transformers", "peft", "bitsandbytes", "accelerate", "rouge-score", "nltk", "pillow",
            "huggingface-hub")
"""Packages whose versions can change a result; recorded in the provenance."""

ROOT = Path(__file__).resolve().parents[1]


class ModelInfo(BaseModel):
    """What is known about the evaluated model, for the submission's metadata and provenance."""

    model_config = ConfigDict(frozen=True)

    model_name: str = Field(description="Display name.")
    model_id: str = Field(description="What was loaded: registry name, local path or Hub id.")
    model_revision: str | None = Field(default=None, description="Resolved commit, when from the Hub.")
    hub_repo: str | None = Field(default=None, description="Hub repo id, when from the Hub.")
    base_model: str = Field(default="unknown", description="The base model it derives from.")
    method: str = Field(default="unknown", description="Unlearning method, 'vanilla' for none.")
    unlearning_modality: str | None = Field(default=None, description="multimodal, text or none.")
    quantization: str = Field(default="none", description="'none' or '4bit'.")
    dtype: str | None = Field(default=None, description="Compute dtype.")


@functools.cache
def package_versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (missing ones are left out)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@functools.cache
def git_commit() -> str | None:
    """The toolkit's git commit, with ``-dirty`` when the work tree has uncommitted changes; None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def build_submission(
    config: RunConfig,
    records: list[SampleRecord],
    model: ModelInfo,
    *,
    submitter: str,
    dataset_revision: str | None = None,
    link: str | None = None,
    notes: str = "",
) -> Submission:
    """A :class:`leaderboard.schema.Submission` with every cell the records support, and full provenance."""
    cells = []
    for key, value in aggregate(records).items():
        metric = METRICS[(key.task, key.metric)]
        cells.append(Cell(set=key.eval_set, task=key.task, modality=key.modality, metric=key.metric,
                          unit=Unit.PERCENT if metric.scale == "percent" else Unit.FRACTION,
                          value=float(value.value), n=value.n, n_unparsed=value.n_unparsed))
    counts = Counter(f"{r.eval_set.value}/{r.task.value}/{r.modality.value}" for r in records)
    meta = SubmissionMetadata(
        model_name=model.model_name, hub_repo=model.hub_repo, hub_revision=model.model_revision,
        base_model=model.base_model, method=model.method, forget_ratio=config.forget_ratio,
        unlearning_modality=model.unlearning_modality,
        protocol=config.protocol,
        protocol_version=config.protocol_version, submitter=submitter, link=link, notes=notes,
    )
    provenance = Provenance(
        model_id=model.model_id, model_revision=model.model_revision, base_model=model.base_model,
        quantization=model.quantization, dtype=model.dtype,
        generation={"do_sample": False, "max_new_tokens": MAX_NEW_TOKENS, "prompt_style": config.prompt_style},
        protocol=config.protocol,
        protocol_version=config.protocol_version, seed=config.seed, dataset=config.data,
        dataset_revision=dataset_revision, dataset_fingerprint=config.dataset_fingerprint,
        package_versions=package_versions(), git_commit=git_commit(), sample_counts=dict(sorted(counts.items())),
        extra={"run_name": config.name, "limit": config.limit, "sets": [s.value for s in config.sets]},
    )
    return Submission(metadata=meta, provenance=provenance, cells=tuple(cells))


def submission_text(config: RunConfig, records: list[SampleRecord], model: ModelInfo, **kw: object) -> str:
    """:func:`build_submission` serialised as the leaderboard writes it."""
    return dump_submission(build_submission(config, records, model, **kw))  # type: ignore[arg-type]
