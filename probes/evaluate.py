r"""Command line: evaluate a model on MLLMU-Bench and write the files a researcher submits.

Example::

    python -m probes.evaluate --model demo-vanilla --data demo --forget-ratio 10 \\
        --protocol official --out runs/

writes ``runs/NAME.samples.jsonl`` (every question, raw output, extracted answer,
scores), ``runs/NAME_final_evaluation_results.json`` (upstream's exact layout),
upstream's ``NAME_{mode}_generation_results.json`` files and
``runs/NAME.submission.json`` (our versioned submission, with provenance).
Interrupted runs resume where they stopped when rerun with the same arguments.
Data-parallel: ``accelerate launch --num_processes N -m probes.evaluate ...``.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import re
import sys
from pathlib import Path

from backend.loading import Quantize
from benchmark.errors import DatasetError
from benchmark.reader import DEMO, load_benchmark
from benchmark.vocabulary import FORGET_RATIOS, EvalSet, Protocol
from probes.runner import ResumeMismatch, RunConfig, RunOutput, run
from probes.submission import submission_text

log = logging.getLogger("probes.evaluate")


def _sets(text: str) -> tuple[EvalSet, ...]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    try:
        chosen = {EvalSet(n) for n in names}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sets takes a comma-separated list of {', '.join(s.value for s in EvalSet)}; got {text!r}"
        ) from None
    return tuple(s for s in EvalSet if s in chosen)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m probes.evaluate`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m probes.evaluate",
        description="Run MLLMU-Bench on a model and write samples, upstream-format results and a submission file. "
        "An interrupted run resumes where it stopped when rerun with the same arguments.",
        epilog="Data-parallel: accelerate launch --num_processes N -m probes.evaluate ...",
    )
    p.add_argument("--model", required=True,
                   help="registry name (listed by: python -m backend models), local checkpoint folder, "
                        "or Hub model id")
    p.add_argument("--revision", default=None,
                   help="Hub revision of --model: branch, tag or commit (default: the registry entry's, "
                        "else the Hub's default branch)")
    p.add_argument("--models", type=Path, default=None, help="model registry file (default: models.yaml)")
    p.add_argument("--data", default=DEMO,
                   help="'demo', a local folder in the Hub layout, or a Hub dataset id (default: %(default)s)")
    p.add_argument("--data-revision", default=None, help="Hub revision of --data (default: main)")
    p.add_argument("--forget-ratio", type=int, choices=FORGET_RATIOS, required=True,
                   help="forget split in percent")
    p.add_argument("--protocol", choices=[p.value for p in Protocol], default=Protocol.OFFICIAL.value,
                   help="official: upstream eval.py exactly (seeded); strict: disjoint demos, letter log-probs, "
                        "chat template (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--sets", type=_sets, default=tuple(EvalSet),
                   help=f"comma-separated evaluation sets, from {','.join(s.value for s in EvalSet)} "
                        "(default: all of them)")
    p.add_argument("--limit", type=int, default=None,
                   help="evaluate only the first N profiles of each set, for smoke runs (default: every profile)")
    p.add_argument("--batch-size", type=int, default=8, help="questions per forward pass (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of every random choice: few-shot demos, test images (default: %(default)s)")
    p.add_argument("--name", default=None,
                   help="run name, the prefix of every output file (default: MODEL_PROTOCOL_forgetRATIO)")
    p.add_argument("--quantize", choices=("upstream", "auto", "4bit", "8bit", "none"), default=None,
                   help="upstream: eval.py's precision (float16 on CUDA, float32 on CPU); auto: 4-bit nf4 on CUDA, "
                        "full precision on CPU; 4bit: always (CPU needs widths that are multiples of 64); 8bit: "
                        "LLM.int8; none: bfloat16 on CUDA, float32 on CPU. Default: upstream with the official "
                        "protocol (any other precision is recorded and the leaderboard marks the row), auto with "
                        "the strict one")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice, one per core); on a shared CPU, 1 can be "
                        "many times faster for small models")
    meta = p.add_argument_group("submission metadata (by default from the registry entry of --model)")
    meta.add_argument("--model-name", default=None, help="display name on the leaderboard (default: the --model given)")
    meta.add_argument("--base-model", default=None, help="the base model, e.g. llava-hf/llava-1.5-7b-hf")
    meta.add_argument("--method", default=None, help="unlearning method: vanilla, GA, GradDiff, KL, NPO, ...")
    meta.add_argument("--unlearning-modality", choices=("multimodal", "text", "none"), default=None,
                      help="which inputs the unlearning used")
    meta.add_argument("--submitter", default=None, help="your name or Hub user (default: the login name)")
    meta.add_argument("--link", default=None, help="paper or code URL")
    meta.add_argument("--notes", default="", help="free text")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def set_threads(threads: int | None) -> None:
    """Give torch ``threads`` CPU threads (``None``: leave torch's default)."""
    if threads is not None:
        if threads < 1:
            raise SystemExit(f"error: --threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)


def default_precision(protocol: str) -> Quantize:
    """The precision a protocol loads models at unless told otherwise: upstream's for official, auto for strict."""
    return "upstream" if Protocol(protocol) is Protocol.OFFICIAL else "auto"


def model_stem(model: str) -> str:
    """A filesystem-safe stem of a model name, local folder or Hub id."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model).name if Path(model).exists() else model).strip("-")


def default_name(model: str, protocol: str, ratio: int) -> str:
    """A filesystem-safe run name from the model, protocol and forget ratio."""
    return f"{model_stem(model)}_{protocol}_forget{ratio}"


def process_device(device: str | None, num_processes: int, own: str) -> str | None:
    """The device this process loads the model on.

    ``device`` as given, except under ``accelerate launch`` (``num_processes`` > 1) where no particular
    device was named: then the process's own, ``own`` (accelerate's ``PartialState.device``:
    ``cuda:LOCAL_RANK``, or ``cpu``), so that N processes use N GPUs.
    """
    if num_processes > 1 and device in (None, "auto", "cuda"):
        return own
    return device


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    set_threads(args.threads)
    from accelerate import PartialState

    from backend.loading import ModelLoadError
    from probes.models import load_for_evaluation, prompt_style

    # From the start: under accelerate launch each process learns its rank and its own device here.
    processes = PartialState()
    try:
        bench = load_benchmark(args.data, revision=args.data_revision)
        precision: Quantize = args.quantize or default_precision(args.protocol)
        device = process_device(args.device, processes.num_processes, str(processes.device))
        model, info = load_for_evaluation(args.model, revision=args.revision, registry=args.models,
                                          quantize=precision, device=device, batch_size=args.batch_size)
    except (DatasetError, ModelLoadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    info = info.model_copy(update={k: v for k, v in {
        "model_name": args.model_name, "base_model": args.base_model, "method": args.method,
        "unlearning_modality": args.unlearning_modality}.items() if v is not None})
    if args.method not in (None, "vanilla", "none") and args.unlearning_modality is None:
        # "none" (no unlearning) was inferred from a model without a method; another method says nothing of it.
        info = info.model_copy(update={"unlearning_modality": None})
    if args.protocol == "strict" and not model.has_chat_template:
        print(f"error: {args.model} has no chat template, which the strict protocol needs; "
              "use --protocol official", file=sys.stderr)
        return 2
    config = RunConfig(
        name=args.name or default_name(args.model, args.protocol, args.forget_ratio),
        model=args.model, data=str(args.data), dataset_fingerprint=bench.fingerprint,
        forget_ratio=args.forget_ratio, protocol=args.protocol, protocol_version=Protocol(args.protocol).version,
        sets=args.sets, seed=args.seed, limit=args.limit, prompt_style=prompt_style(model.spec).value,
    )
    submitter = args.submitter or getpass.getuser() or "anonymous"
    try:
        out: RunOutput = run(
            config, bench, model, args.out, batch_size=args.batch_size, progress=not args.no_progress,
            processes=processes,
            submission_builder=lambda c, r: submission_text(c, r, info, submitter=submitter,
                                                            dataset_revision=bench.revision, link=args.link,
                                                            notes=args.notes),
        )
    except ResumeMismatch as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not out.files:  # a worker process of a data-parallel run: the main process writes the files
        return 0
    rate = out.computed / out.seconds if out.seconds else 0.0
    print(f"{len(out.records)} questions ({out.computed} computed, {rate:.1f}/s)")
    for kind, path in out.files.items():
        print(f"  {kind:<22} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
