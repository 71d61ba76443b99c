"""Command line of the model backend: list and check the model registry.

Usage::

    python -m backend models [--json] [--registry FILE]

(The tiny demo model is built by ``python -m demo build-tiny``.)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend",
        description=__doc__.splitlines()[0],
        epilog="The tiny demo model and the demo checkpoints are built by python -m demo (see its --help).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    models = sub.add_parser("models", help="list the model registry")
    models.add_argument("--json", action="store_true", help="print the registry as JSON")
    models.add_argument("--registry", type=Path, default=None, help="registry YAML (default: models.yaml)")
    return parser


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], Any] = print) -> int:
    """Run the CLI; returns the process exit code."""
    args = _parser().parse_args(argv)
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
