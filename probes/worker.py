r"""Command line: evaluate the board's pending evaluation requests on this (GPU) machine.

Example::

    python -m probes.worker --board https://owner-space.hf.space --token "$MLLMU_ADMIN_TOKEN"

takes the oldest pending request from the board (claimed atomically over the board's API, so several
workers can share one queue), runs ``python -m probes.evaluate`` on it (``accelerate launch
--num_processes N -m probes.evaluate`` when the machine has N > 1 GPUs) and sends the submission file
back: the board stores it as a row marked *evaluated by the board*. A failed evaluation is reported with
the end of its log, shown in the board's request list. Then it takes the next one (``--once``: one only).

The worker talks to the board over HTTP only (``gradio_client``, with the admin token); it needs this
repository and its requirements, nothing of the board's store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from benchmark.reader import HUB_REPO
from benchmark.requests import EvaluationRequest

LOG_TAIL_LINES = 40
"""Lines of the evaluation's log sent with a failure (the board keeps at most 4,000 characters)."""


class WorkerError(RuntimeError):
    """The board refused the worker (wrong token, unreachable): the message says what to fix."""


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m probes.worker`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m probes.worker",
        description="Evaluate the board's pending evaluation requests, one at a time: claim one (atomically; "
        "several workers may share the queue), run python -m probes.evaluate on it (accelerate launch across "
        "this machine's GPUs when it has more than one), send the result back (a row marked evaluated by the "
        "board) or the error (shown in the board's request list).",
        epilog="Example: python -m probes.worker --board http://127.0.0.1:7860 --token $MLLMU_ADMIN_TOKEN --once",
    )
    p.add_argument("--board", required=True, help="the board's URL (the app started with python app.py, or a Space)")
    p.add_argument("--token", default=os.environ.get("MLLMU_ADMIN_TOKEN"),
                   help="the board's admin token (default: the MLLMU_ADMIN_TOKEN environment variable)")
    p.add_argument("--once", action="store_true",
                   help="evaluate at most one request, then exit (status 0: done or none pending, 1: it failed)")
    p.add_argument("--out", type=Path, default=Path("var/worker"),
                   help="folder for the evaluations' files, one subfolder per request (default: %(default)s)")
    p.add_argument("--poll-s", type=float, default=60.0,
                   help="seconds to wait before asking again when no request is pending (default: %(default)s)")
    p.add_argument("--name", default=f"{socket.gethostname()}:{os.getpid()}",
                   help="this worker's name, recorded on the requests it claims (default: host:pid)")
    p.add_argument("--gpus", type=int, default=None,
                   help="GPUs to use (default: every GPU torch sees); more than one runs accelerate launch")
    p.add_argument("--data", default=HUB_REPO,
                   help="the benchmark: a Hub dataset id, a local folder, or 'demo' (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None,
                   help="evaluate only the first N profiles of each set (smoke tests only: the board marks the "
                        "row as covering fewer questions)")
    p.add_argument("--batch-size", type=int, default=None, help="python -m probes.evaluate --batch-size")
    p.add_argument("--quantize", choices=("upstream", "auto", "4bit", "8bit", "none"), default=None,
                   help="python -m probes.evaluate --quantize (default: the protocol's)")
    return p


def gpu_count() -> int:
    """GPUs torch sees on this machine (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def evaluate_command(request: EvaluationRequest, out: Path, *, gpus: int, data: str, limit: int | None = None,
                     batch_size: int | None = None, quantize: str | None = None) -> list[str]:
    """The ``probes.evaluate`` command line for ``request``: under ``accelerate launch`` with more than one GPU."""
    args = ["-m", "probes.evaluate", "--model", request.hub_repo, "--revision", request.revision,
            "--forget-ratio", str(request.forget_ratio), "--protocol", request.protocol.value, "--data", data,
            "--out", str(out), "--name", request.label, "--model-name", request.hub_repo,
            "--base-model", request.base_model, "--method", request.method, "--submitter", request.requester,
            "--no-progress"]
    if limit is not None:
        args += ["--limit", str(limit)]
    if batch_size is not None:
        args += ["--batch-size", str(batch_size)]
    if quantize is not None:
        args += ["--quantize", quantize]
    if gpus > 1:
        launcher = shutil.which("accelerate") or "accelerate"
        return [launcher, "launch", "--num_processes", str(gpus), "--num_machines", "1", *args]
    return [sys.executable, *args]


class Evaluation(NamedTuple):
    """How one evaluation went."""

    ok: bool
    files: dict[str, Path]
    """``submission`` and ``samples`` (when written)."""
    log_tail: str
    seconds: float


def run_evaluation(command: Sequence[str], out: Path, name: str, *,
                   echo: Callable[[str], None] = print) -> Evaluation:
    """Run ``command``, echoing its output line by line; the files it wrote, or the end of its log."""
    out.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    start = time.monotonic()
    with subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            echo(f"  | {line}")
        code = proc.wait()
    seconds = time.monotonic() - start
    submission = out / f"{name}.submission.json"
    samples = out / f"{name}.samples.jsonl"
    if code != 0 or not submission.exists():
        why = f"exit status {code}" if code != 0 else f"no {submission.name} was written"
        return Evaluation(False, {}, f"probes.evaluate failed ({why}):\n" + "\n".join(tail), seconds)
    files = {"submission": submission, **({"samples": samples} if samples.exists() else {})}
    return Evaluation(True, files, "", seconds)


class Board:
    """The board's worker endpoints over HTTP (``gradio_client``), with the admin token."""

    def __init__(self, url: str, token: str, *, client: Any = None) -> None:
        """Connect to the board at ``url`` (raises :class:`WorkerError` when it cannot be reached)."""
        if client is None:
            from gradio_client import Client

            try:
                client = Client(url, verbose=False)
            except Exception as exc:  # noqa: BLE001 - any failure to connect says the same thing
                raise WorkerError(f"cannot reach the board at {url} ({type(exc).__name__}: {exc}); check --board"
                                  ) from None
        self._client = client
        self._token = token

    def _call(self, api_name: str, **kwargs: Any) -> dict[str, Any]:
        answer = self._client.predict(token=self._token, api_name=api_name, **kwargs)
        if not isinstance(answer, dict):
            raise WorkerError(f"the board answered {api_name} with {type(answer).__name__}, not an object")
        return answer

    def claim(self, worker: str) -> EvaluationRequest | None:
        """The oldest pending request, now claimed by ``worker``; None when none is pending."""
        answer = self._call("/claim_request", worker=worker)
        if not answer.get("ok"):
            raise WorkerError(f"the board refused to hand out a request: {answer.get('message') or answer.get('error')}"
                              " (check --token)")
        found = answer.get("request")
        return None if found is None else EvaluationRequest.model_validate(found)

    def complete(self, request: EvaluationRequest, files: dict[str, Path]) -> tuple[bool, str]:
        """Send the submission file (and samples) of ``request``; ``(ok, message)``."""
        samples = files.get("samples")
        answer = self._call("/complete_request", request_id=request.label,
                            results=files["submission"].read_text(encoding="utf-8"),
                            samples=samples.read_text(encoding="utf-8") if samples else "",
                            filename=files["submission"].name)
        return bool(answer.get("ok")), str(answer.get("message") or answer.get("error"))

    def fail(self, request: EvaluationRequest, error: str) -> tuple[bool, str]:
        """Record ``error`` on ``request``; ``(ok, message)``."""
        answer = self._call("/fail_request", request_id=request.label, error=error)
        return bool(answer.get("ok")), str(answer.get("message") or answer.get("error"))


def work_one(board: Board, args: argparse.Namespace, gpus: int, *, echo: Callable[[str], None] = print
             ) -> bool | None:
    """Claim and evaluate one request: True when its row is stored, False when it failed, None when none waits."""
    request = board.claim(args.name)
    if request is None:
        return None
    echo(f"{request.label}: {request.hub_repo}@{request.revision[:12]} forget {request.forget_ratio} % "
         f"{request.protocol.value}, for {request.requester}")
    out = args.out / request.label
    command = evaluate_command(request, out, gpus=gpus, data=args.data, limit=args.limit,
                               batch_size=args.batch_size, quantize=args.quantize)
    echo(f"{request.label}: running {' '.join(command[:4])} ... on {max(gpus, 1)} {'GPU' if gpus else 'CPU'}"
         f"{'s' if gpus > 1 else ''}")
    try:
        result = run_evaluation(command, out, request.label, echo=echo)
    except BaseException as exc:
        board.fail(request, f"the worker stopped during the evaluation ({type(exc).__name__}); request it again")
        raise
    if result.ok:
        ok, message = board.complete(request, result.files)
        if ok:
            echo(f"{request.label}: evaluated in {result.seconds:.1f} s; {message}")
            return True
        error = f"the board refused the result: {message}"
    else:
        error = result.log_tail
    board.fail(request, error)
    echo(f"{request.label}: failed after {result.seconds:.1f} s; the error is in the board's request list:\n{error}")
    return False


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if not args.token:
        print("error: give the board's admin token with --token (or MLLMU_ADMIN_TOKEN)", file=sys.stderr)
        return 2
    if args.poll_s <= 0:
        print(f"error: --poll-s must be positive, got {args.poll_s}", file=sys.stderr)
        return 2
    gpus = args.gpus if args.gpus is not None else gpu_count()
    try:
        board = Board(args.board, args.token)
        while True:
            done = work_one(board, args, gpus)
            if args.once:
                if done is None:
                    print("no pending request")
                return 1 if done is False else 0
            if done is None:
                time.sleep(args.poll_s)
    except WorkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
