"""Community-reported reference rows (spec section 7), seeded into every fresh store.

Each row carries only the cells its source reports, its source link, the
submitter ``community-reported`` and a note saying so; its source format is
``reference`` so that the table and the app can mark it. Numbers are copied as
posted (issue #11's forget set at full precision, as in the post's JSON; its
test set rounded to two decimals, as posted). Nothing is inferred or filled in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from benchmark.metrics import CellKey
from benchmark.submission import Cell, Submission, SubmissionMetadata, UnlearningModality
from benchmark.upstream import UPSTREAM_PROTOCOL_VERSION
from benchmark.vocabulary import Protocol
from leaderboard.ingest import ParsedUpload, SourceFormat, content_hash

REFERENCE_SUBMITTER = "community-reported"
"""Submitter name of every reference row."""

LLAVA = "llava-hf/llava-1.5-7b-hf"
ISSUE_11 = "https://github.com/franciscoliu/MLLMU-Bench/issues/11"
ISSUE_20 = "https://github.com/franciscoliu/MLLMU-Bench/issues/20"


@dataclass(frozen=True)
class Reference:
    """One publicly reported result."""

    model_name: str
    method: str
    unlearning_modality: UnlearningModality | None
    link: str
    notes: str
    values: dict[str, float]
    """Cell id (``set/task/modality/metric``) -> value as reported."""
    forget_ratio: int = 5
    base_model: str = LLAVA


REFERENCES: tuple[Reference, ...] = (
    Reference(
        model_name="LLaVA-1.5-7B vanilla (upstream issue #11)",
        method="vanilla",
        unlearning_modality=UnlearningModality.NONE,
        link=ISSUE_11,
        notes=(
            "Community-reported: the official vanilla checkpoint evaluated with upstream eval.py, posted in "
            "upstream issue #11 (which also reports that it does not reproduce the paper). Forget set as "
            "posted; test set rounded as posted; the rest was not reported."
        ),
        values={
            "forget/cloze/image_text/accuracy": 28.26086956521739,
            "forget/cloze/text/accuracy": 8.695652173913043,
            "forget/classification/image_text/accuracy": 49.166666666666664,
            "forget/classification/text/accuracy": 46.666666666666664,
            "forget/generation/image_text/rouge1": 0.5781975834622894,
            "forget/generation/image_text/rouge2": 0.41837889449731547,
            "forget/generation/image_text/rougeL": 0.5708306366835779,
            "forget/generation/image_text/bleu": 0.24219108440747608,
            "forget/generation/text/rouge1": 0.6475838805157692,
            "forget/generation/text/rouge2": 0.47284088460559054,
            "forget/generation/text/rougeL": 0.6475838805157692,
            "forget/generation/text/bleu": 0.31537159273966764,
            "test/cloze/image_text/accuracy": 19.57,
            "test/cloze/text/accuracy": 17.39,
            "test/classification/image_text/accuracy": 43.33,
            "test/classification/text/accuracy": 35.83,
        },
    ),
    *(
        Reference(
            model_name=f"LLaVA-1.5-7B {label} (upstream issue #20 re-run)",
            method=method,
            unlearning_modality=UnlearningModality.NONE if method == "vanilla" else None,
            link=ISSUE_20,
            notes=(
                "Community-reported: a re-run posted in upstream issue #20; only image+text ROUGE-L on the "
                "forget and retain sets was reported."
                + ("" if method == "vanilla" else " The unlearning modality was not stated.")
            ),
            values={"forget/generation/image_text/rougeL": forget, "retain/generation/image_text/rougeL": retain},
        )
        for label, method, forget, retain in (
            ("vanilla", "vanilla", 0.5708, 0.4939),
            ("GA", "GA", 0.2150, 0.1788),
            ("GradDiff", "GradDiff", 0.1485, 0.1414),
            ("KL-Min", "KL_Min", 0.5758, 0.5166),
            ("NPO", "NPO", 0.5463, 0.4898),
        )
    ),
)
"""Spec section 7, one entry per reported model."""


def reference_upload(reference: Reference) -> ParsedUpload:
    """A reference row as an upload (its raw file is the JSON of its definition)."""
    cells = tuple(
        Cell.model_validate({**CellKey.parse(key)._asdict(), "value": value}) for key, value in reference.values.items()
    )
    submission = Submission(
        metadata=SubmissionMetadata(
            model_name=reference.model_name,
            base_model=reference.base_model,
            method=reference.method,
            forget_ratio=5,
            unlearning_modality=reference.unlearning_modality,
            protocol=Protocol.OFFICIAL,
            protocol_version=UPSTREAM_PROTOCOL_VERSION,
            submitter=REFERENCE_SUBMITTER,
            link=reference.link,
            notes=reference.notes,
        ),
        cells=cells,
    )
    doc = {"reference": json.loads(submission.model_dump_json())}
    return ParsedUpload(
        submission=submission,
        source_format=SourceFormat.REFERENCE,
        raw=json.dumps(doc, indent=2).encode("utf-8"),
        content_hash=content_hash(doc),
        filename=None,
    )
