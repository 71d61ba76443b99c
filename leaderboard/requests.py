"""Evaluation requests as services: ask the board to evaluate a Hub model; workers claim, fail or complete them.

A request names a Hub model pinned to a commit, its base model and method, a forget ratio and a protocol. It
is validated like a submission (the model must have safetensors weights and need no remote code) and stored
pending. A worker (``python -m probes.worker``, on a GPU machine) claims the oldest pending request over the
API with the admin token, runs ``python -m probes.evaluate`` and sends the submission file back: it is stored
approved, marked *evaluated by the board*, and the request becomes done; or it reports the error and the
request becomes failed, with the error shown in the request list.

Services return typed outcomes with plain-text messages; the tab and the API format them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import FieldIssue, ValidationFailed, not_accepted
from benchmark.requests import COMMIT, EvaluationRequest
from benchmark.vocabulary import FORGET_RATIOS, Protocol
from leaderboard.errors import LeaderboardError

if TYPE_CHECKING:
    from leaderboard.service import Leaderboard

MAX_NAME_CHARS = 200
"""Longest model id, revision, base model or requester."""

MAX_METHOD_CHARS = 100

MAX_ERROR_CHARS = 4000
"""Longest error a worker may record (the tail of its log is kept)."""

REMOTE_CODE_FILES = ("config.json", "processor_config.json", "preprocessor_config.json", "tokenizer_config.json")
"""Config files whose ``auto_map`` would make transformers run the repository's own code (never allowed)."""

WEIGHT_PATTERNS = ("*.json", "*.jinja", "*.safetensors", "*.model", "*.txt")
"""What an offline check looks for in the Hub cache (no pickles)."""


class HubModelProblem(ValueError):
    """The Hub model cannot be evaluated: not found, no safetensors, remote code; the message says what to fix."""


HubCheck = Callable[[str, str], str]
"""``(repo, revision) -> full commit hash``, raising :class:`HubModelProblem` with what to fix."""


def repo_id_problem(repo_id: str) -> str | None:
    """What is wrong with ``repo_id`` as a Hub model id ``owner/name`` (huggingface_hub's rules), or None."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    form = f"{repo_id[:80]!r} is not a Hub model id of the form 'owner/name' (e.g. MLLMMU/LLaVA_Vanilla)"
    if repo_id.count("/") != 1:
        return form
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return f"{form}: {exc}"
    return None


def check_hub_model(repo: str, revision: str) -> str:
    """The full commit ``revision`` of Hub model ``repo`` resolves to, once its files pass the board's rules.

    Online: ``model_info`` lists the files at the revision. With ``HF_HUB_OFFLINE=1`` the local Hugging Face
    cache is read instead (the revision must be cached). The repository must hold ``*.safetensors`` weights,
    and no config may carry an ``auto_map`` (remote code, which the board never runs).

    Raises:
        HubModelProblem: Not found (or private, gated, not cached offline), no safetensors, or remote code.
    """
    from huggingface_hub import constants, hf_hub_download, model_info, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo}@{revision}"
    try:
        if constants.HF_HUB_OFFLINE:
            folder = Path(snapshot_download(repo, revision=revision, allow_patterns=list(WEIGHT_PATTERNS)))
            commit = folder.name
            files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        else:
            info = model_info(repo, revision=revision)
            commit = info.sha or ""
            files = [s.rfilename for s in info.siblings or ()]
    except RevisionNotFoundError:
        raise HubModelProblem(f"revision {revision!r} does not exist in {repo}; give a branch, tag or commit "
                              "hash") from None
    except GatedRepoError:
        raise HubModelProblem(f"{repo} is gated; the board can evaluate public models only") from None
    except RepositoryNotFoundError:
        raise HubModelProblem(f"Hub model {repo} not found (or private); check the id") from None
    except LocalEntryNotFoundError:
        raise HubModelProblem(f"{where} is not in this server's Hugging Face cache and the Hub is off "
                              "(HF_HUB_OFFLINE=1)") from None
    except HFValidationError as exc:
        raise HubModelProblem(f"invalid model id or revision: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - network and HTTP errors (httpx's are not OSErrors): say so, plainly
        raise HubModelProblem(f"could not reach the Hub to check {where} ({type(exc).__name__}); try again "
                              "later") from None
    if not COMMIT.match(commit):
        raise HubModelProblem(f"the Hub did not resolve {where} to a commit; give the full commit hash")
    if not any(name.endswith(".safetensors") for name in files):
        pickles = sorted(n for n in files if n.endswith((".bin", ".pt", ".pth", ".pkl")))
        found = f" (it has only {', '.join(pickles[:5])}: pickle files, which the board never loads)" if pickles else ""
        raise HubModelProblem(f"{where[:60]} has no *.safetensors weights{found}; push the model saved with "
                              "save_pretrained(..., safe_serialization=True)")
    for name in REMOTE_CODE_FILES:
        if name not in files:
            continue
        try:
            data = json.loads(Path(hf_hub_download(repo, name, revision=commit)).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise HubModelProblem(f"could not read {name} of {where}; check that it is valid JSON") from None
        if isinstance(data, dict) and "auto_map" in data:
            raise HubModelProblem(f"{name} of {where} has an auto_map: the model needs its own (remote) code, "
                                  "which the board never runs; only architectures transformers ships are evaluated")
    return commit


@dataclass(frozen=True)
class RequestOutcome:
    """What asking for an evaluation came to."""

    ok: bool
    request: EvaluationRequest | None = None
    """The stored request (pending), when accepted."""
    problems: tuple[FieldIssue, ...] = ()
    """Every problem with the form, each naming its field (nothing was stored)."""
    refusal: str | None = None
    """Why a valid request was not stored (the model's files, a duplicate, the rate limit)."""

    @property
    def message(self) -> str:
        """The outcome in plain text."""
        if self.problems:
            return not_accepted(self.problems)
        if self.refusal is not None:
            return f"Not accepted: {self.refusal}"
        assert self.request is not None
        r = self.request
        return (f"Requested as {r.label}: {r.hub_repo}@{r.revision[:12]} (forget {r.forget_ratio} %, "
                f"{r.protocol.value} protocol) waits for a worker; once evaluated, its row appears on the board, "
                "marked evaluated by the board.")


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())


def parse_request(fields: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[FieldIssue, ...]]:
    """The form's fields checked (every problem, each naming its field); the revision is not resolved here."""
    problems: list[FieldIssue] = []
    repo = _text(fields, "hub_repo")
    if not repo:
        problems.append(FieldIssue("hub_repo", "give the Hub model id, e.g. MLLMMU/LLaVA_Vanilla"))
    elif (problem := repo_id_problem(repo)) is not None:
        problems.append(FieldIssue("hub_repo", problem))
    revision = _text(fields, "revision") or "main"
    if len(revision) > MAX_NAME_CHARS or any(c.isspace() for c in revision):
        problems.append(FieldIssue("revision", "give a branch, tag or commit hash (no spaces)"))
    out: dict[str, Any] = {"hub_repo": repo, "revision": revision}
    for name, limit, example in (("base_model", MAX_NAME_CHARS, "llava-hf/llava-1.5-7b-hf"),
                                 ("method", MAX_METHOD_CHARS, "GA, NPO or vanilla"),
                                 ("requester", MAX_NAME_CHARS, "your name or Hub user")):
        value = _text(fields, name)
        if not value:
            problems.append(FieldIssue(name, f"give the {name.replace('_', ' ')} ({example})"))
        elif len(value) > limit:
            problems.append(FieldIssue(name, f"is {len(value):,} characters long; at most {limit} are allowed"))
        out[name] = value
    ratio = _text(fields, "forget_ratio")
    if ratio not in {str(r) for r in FORGET_RATIOS}:
        problems.append(FieldIssue("forget_ratio", f"must be one of {', '.join(map(str, FORGET_RATIOS))}, "
                                                   f"got {ratio[:20]!r}"))
    else:
        out["forget_ratio"] = int(ratio)
    protocol = _text(fields, "protocol") or Protocol.OFFICIAL.value
    if protocol not in {p.value for p in Protocol}:
        problems.append(FieldIssue("protocol", f"must be official or strict, got {protocol[:20]!r}"))
    out["protocol"] = protocol
    return out, tuple(problems)


def request_evaluation(board: Leaderboard, fields: Mapping[str, Any], *,
                       hub_check: HubCheck = check_hub_model) -> RequestOutcome:
    """Validate a request (form fields), pin its revision to a commit and store it pending; or say why not."""
    parsed, problems = parse_request(fields)
    if problems:
        return RequestOutcome(False, problems=problems)
    try:
        commit = hub_check(parsed["hub_repo"], parsed["revision"])
    except HubModelProblem as exc:
        return RequestOutcome(False, refusal=str(exc))
    request = EvaluationRequest(id=0, **{**parsed, "revision": commit})
    try:
        stored = board.add_request(request)
    except LeaderboardError as exc:
        return RequestOutcome(False, refusal=str(exc))
    return RequestOutcome(True, request=stored)


def parse_request_id(value: object) -> int:
    """The request id in ``value`` (``12``, ``E12``, ``#E12``); raises ValueError saying what is wrong."""
    text = str(value).strip().removeprefix("#").removeprefix("E").removeprefix("e")
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"request id must be like E12 or 12, got {str(value)[:40]!r}")
    return int(text)


def complete(board: Leaderboard, request_id: object, results: bytes, *, samples: bytes | None = None,
             filename: str | None = None) -> tuple[bool, str, int | None]:
    """Store a worker's result for a running request: ``(ok, message, row id)`` (every problem in the message)."""
    try:
        rid = parse_request_id(request_id)
        stored = board.complete_request(rid, results, samples=samples, filename=filename)
    except ValidationFailed as exc:
        return False, "Not accepted: " + "; ".join(str(i) for i in exc.issues), None
    except (LeaderboardError, ValueError) as exc:
        return False, f"Not accepted: {exc}", None
    return True, f"E{rid} done: row #{stored.id} is on the board, evaluated by the board.", stored.id


def fail(board: Leaderboard, request_id: object, error: str) -> tuple[bool, str]:
    """Record a worker's failure on a running request: ``(ok, message)``."""
    try:
        rid = parse_request_id(request_id)
        text = (error or "").strip() or "the worker gave no error text"
        board.fail_request(rid, text[-MAX_ERROR_CHARS:])
    except (LeaderboardError, ValueError) as exc:
        return False, f"Not recorded: {exc}"
    return True, f"E{rid} failed; the error is shown in the request list."
