"""Command line of the demo wing: regenerate the demo data, the tiny model, the demo checkpoints and their results.

Usage::

    python -m demo data [--out DIR] [--seed N]                  # the demo benchmark (demo/data)
    python -m demo build-tiny --out DIR [--seed N] [--corpus-file FILE]   # a tiny random LLaVA
    python -m demo build-checkpoints [--out DIR] [--methods ga,graddiff,npo] [--no-retain] [--evaluate]   # demo/models
    python -m demo results [--out DIR] [--no-robustness]        # their leaderboard rows (demo/results)

Each step is deterministic: the same seed (and, for training, thread count) gives the same files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmark.reader import DEMO_DIR
from demo.checkpoints import DEMO_METHODS, MODELS_DIR
from demo.dataset import DEFAULT_SEED
from demo.results import RESULTS_DIR
from unlearning.training import METHODS

_ROOT = Path(__file__).resolve().parents[1]


def _in_project(path: Path) -> str:
    """A default folder as the help shows it: relative to the project when inside it, not this machine's path."""
    try:
        return f"{path.relative_to(_ROOT).as_posix()} in the project"
    except ValueError:
        return str(path).replace("%", "%%")  # help strings are %-formatted


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m demo`` argument parser."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="regenerate the demo benchmark, byte for byte, in the Hub dataset's layout")
    data.add_argument("--out", type=Path, default=DEMO_DIR,
                      help=f"output folder, replaced (default: {_in_project(DEMO_DIR)})")
    data.add_argument("--seed", type=int, default=DEFAULT_SEED,
                      help="random seed of the people and portraits (default: %(default)s)")

    tiny = sub.add_parser("build-tiny", help="build a deterministic tiny LLaVA model (random weights) into a folder")
    tiny.add_argument("--out", required=True, type=Path, help="folder to write (created; files are overwritten)")
    tiny.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default: %(default)s)")
    tiny.add_argument("--corpus-file", type=Path, default=None,
                      help="train the tokenizer on this UTF-8 text file, one text per line (default: the demo "
                           "benchmark's text)")

    ckpt = sub.add_parser(
        "build-checkpoints",
        help="build the demo checkpoints (tiny vanilla, GA, GradDiff and NPO+RT at forget 10 %%, and the "
        "retain-only reference) in one go",
        description="Build the tiny demo model (demo/tiny.py, random weights), fine-tune it on the demo benchmark "
        "with the demo recipe, then unlearn forget_10 with GA, GradDiff and NPO+RT; writes demo-vanilla, demo-ga, "
        "demo-graddiff and demo-npo, and demo-retain (the same fine-tune without the forget_10 people: the "
        "retain-only reference), as merged safetensors with model cards. Deterministic: the same seed and "
        "thread count give the same weights.",
    )
    ckpt.add_argument("--out", type=Path, default=MODELS_DIR,
                      help=f"parent folder of the checkpoints (default: {_in_project(MODELS_DIR)})")
    ckpt.add_argument("--seed", type=int, default=0,
                      help="seed of the base model and every training run (default: %(default)s)")
    ckpt.add_argument("--threads", type=int, default=1,
                      help="CPU threads, fixed for reproducible weights; 1 is fastest for this tiny model "
                           "(default: %(default)s)")
    ckpt.add_argument("--methods", default=",".join(DEMO_METHODS),
                      help=f"comma-separated unlearning methods to build, from {','.join(METHODS)} "
                           "(default: %(default)s)")
    ckpt.add_argument("--no-retain", action="store_true",
                      help="skip demo-retain, the retain-only reference (a second full fine-tune, about half the "
                           "build time)")
    ckpt.add_argument("--evaluate", action="store_true",
                      help="evaluate each checkpoint (official protocol, all four sets) and record the figures in "
                           "its model card")
    ckpt.add_argument("--no-progress", action="store_true", help="no progress bars")

    results = sub.add_parser("results",
                             help="evaluate the demo models with probes.evaluate and probes.stress --quick and write "
                                  "their result and robustness files")
    results.add_argument("--out", type=Path, default=RESULTS_DIR,
                         help=f"folder of the result files (default: {_in_project(RESULTS_DIR)})")
    results.add_argument("--no-robustness", action="store_true",
                         help="skip the robustness runs (python -m probes.stress --quick, about a minute per model)")
    results.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "data":
        from demo.dataset import write_demo

        print(write_demo(args.out, args.seed))
    elif args.command == "build-tiny":
        from demo.tiny import build_tiny_to_folder

        corpus = args.corpus_file.read_text(encoding="utf-8").splitlines() if args.corpus_file else None
        print(f"wrote tiny LLaVA model to {build_tiny_to_folder(args.out, seed=args.seed, corpus=corpus)}")
    elif args.command == "build-checkpoints":
        from demo.checkpoints import build_demo

        methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            print(f"error: unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}", file=sys.stderr)
            return 2
        build_demo(args.out, seed=args.seed, threads=args.threads, methods=methods,
                   evaluate=args.evaluate, progress=not args.no_progress, retain=not args.no_retain)
    else:
        from demo.results import write_results

        for path in write_results(args.out, progress=not args.no_progress, robustness=not args.no_robustness):
            print(path)
    return 0
