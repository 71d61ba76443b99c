"""Turn a run's sample records into the leaderboard's versioned submission file."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from benchmark.metrics import CellKey
from benchmark.prompts import MAX_NEW_TOKENS
from benchmark.protocols import official_token_limits
from benchmark.provenance import git_commit, package_versions
from benchmark.records import SampleRecord, aggregate
from benchmark.submission import Cell, Provenance, Submission, SubmissionMetadata, dump_submission
from benchmark.vocabulary import Protocol
from probes.runner import RunConfig


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
    """A :class:`benchmark.submission.Submission` with every cell the records support, and full provenance."""
    cells = []
    key: CellKey
    for key, value in aggregate(records).items():
        cells.append(Cell(set=key.set, task=key.task, modality=key.modality, metric=key.metric, unit=key.unit,
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
        generation=_generation(config),
        protocol=config.protocol,
        protocol_version=config.protocol_version, seed=config.seed, dataset=config.data,
        dataset_revision=dataset_revision, dataset_fingerprint=config.dataset_fingerprint,
        package_versions=package_versions(), git_commit=git_commit(), sample_counts=dict(sorted(counts.items())),
        extra={"run_name": config.name, "limit": config.limit, "sets": [s.value for s in config.sets]},
    )
    return Submission(metadata=meta, provenance=provenance, cells=tuple(cells))


def _generation(config: RunConfig) -> dict[str, object]:
    """How answers were generated, including upstream's per-question token limits where the protocol has them."""
    out: dict[str, object] = {"do_sample": False, "max_new_tokens": MAX_NEW_TOKENS, "prompt_style": config.prompt_style}
    limits = official_token_limits(config.prompt_style) if config.protocol is Protocol.OFFICIAL else {}
    out |= {f"max_new_tokens.{question}": tokens for question, tokens in limits.items()}
    return out


def submission_text(config: RunConfig, records: list[SampleRecord], model: ModelInfo, **kw: object) -> str:
    """:func:`build_submission` serialised as the leaderboard writes it."""
    return dump_submission(build_submission(config, records, model, **kw))  # type: ignore[arg-type]
