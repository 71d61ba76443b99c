"""An evaluation request: a Hub model the board is asked to evaluate, as the board and its workers share it.

The leaderboard stores requests (``leaderboard.requests``); a worker (``python -m probes.worker``) claims one
over the board's HTTP API, evaluates it with ``python -m probes.evaluate`` and sends the result back. Both
sides read the same JSON, validated by :class:`EvaluationRequest`.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from benchmark.vocabulary import Protocol

COMMIT = re.compile(r"^[0-9a-f]{40}$")
"""A full Git commit hash, as a pinned Hub revision is stored."""


class RequestStatus(StrEnum):
    """Where a request is: waiting, being evaluated by a worker, evaluated (a row), or failed (with the error)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class EvaluationRequest(BaseModel):
    """One request to evaluate a Hub model at a pinned commit."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: int = Field(description="Store-assigned id, shown as ``E<id>``.")
    hub_repo: str = Field(description="Hub model id ``owner/name``.")
    revision: str = Field(pattern=COMMIT.pattern, description="The full commit hash the request is pinned to.")
    base_model: str = Field(description="The base model it derives from (e.g. llava-hf/llava-1.5-7b-hf).")
    method: str = Field(description="Unlearning method (vanilla, GA, NPO, ...).")
    forget_ratio: int = Field(description="Forget split in percent: 5, 10 or 15.")
    protocol: Protocol = Field(description="official or strict.")
    requester: str = Field(description="Who asked (``hf:<user>`` when signed in with Hugging Face).")
    status: RequestStatus = Field(default=RequestStatus.PENDING)
    error: str | None = Field(default=None, description="Why the evaluation failed, as the worker reported it.")
    worker: str | None = Field(default=None, description="The worker that claimed it.")
    submission_id: int | None = Field(default=None, description="The row its result became, once done.")
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def label(self) -> str:
        """``E12``: how messages and the request list name it."""
        return f"E{self.id}"
