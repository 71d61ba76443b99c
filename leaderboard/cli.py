"""Command line: ``python -m leaderboard {schema}``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the leaderboard CLI; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m leaderboard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("schema", help="print the JSON Schema of the submission file")
    args = parser.parse_args(argv)
    if args.command == "schema":
        from leaderboard.schema import submission_json_schema

        sys.stdout.write(json.dumps(submission_json_schema(), indent=2) + "\n")
        return 0
    return 2
