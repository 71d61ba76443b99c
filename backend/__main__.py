"""Command line of the model backend.

Usage::

    python -m backend build-tiny --out backend/demo_models/demo-base [--seed 0] [--corpus-file FILE]
    python -m backend models [--json] [--registry FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build-tiny", help="build a deterministic tiny LLaVA model (random weights) into a folder")
    build.add_argument("--out", required=True, type=Path, help="folder to write (created; files are overwritten)")
    build.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    build.add_argument(
        "--corpus-file",
        type=Path,
        default=None,
        help="train the tokenizer on this UTF-8 text file, one text per line (default: the demo benchmark's text)",
    )

    models = sub.add_parser("models", help="list the model registry")
    models.add_argument("--json", action="store_true", help="print the registry as JSON")
    models.add_argument("--registry", type=Path, default=None, help="registry YAML (default: backend/models.yaml)")
    return parser


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], Any] = print) -> int:
    """Run the CLI; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "build-tiny":
        from backend.tiny import build_tiny_to_folder

        corpus = None
        if args.corpus_file is not None:
            corpus = args.corpus_file.read_text(encoding="utf-8").splitlines()
        folder = build_tiny_to_folder(args.out, seed=args.seed, corpus=corpus)
        out(f"wrote tiny LLaVA model to {folder}")
        return 0
    if args.command == "models":
        from backend.registry import RegistryError, load_registry

        try:
            registry = load_registry(args.registry)
        except RegistryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.json:
            out(json.dumps([spec.model_dump(mode="json") for spec in registry.models], indent=2))
        else:
            for spec in registry.models:
                out(f"{spec.name:<24} {spec.kind.value:<8} {spec.source:<48} {spec.description}")
        return 0
    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover - argparse enforces choices


if __name__ == "__main__":
    sys.exit(main())
