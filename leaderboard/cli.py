"""Command line of the leaderboard.

``python -m leaderboard COMMAND [--db PATH]``; the store is ``--db``, else
``$MLLMU_DB`` (the variable the app's ``--db`` reads too), else
``var/leaderboard.sqlite`` relative to the working directory, and is created,
with the reference rows, on first use.

Commands:
  ingest FILE     validate and store a results file (upstream or ours); prints the new id
  list            list stored submissions with every cell (--format json|csv, --status)
  approve ID      approve a pending submission
  reject ID       reject a submission (--reason)
  withdraw ID     take an approved submission off the board (--reason)
  export          the ranked table of approved rows (--protocol, --metrics, --format)
  schema          print the JSON Schema of the submission file

Exit status: 0 success, 1 invalid input (messages on stderr, one per field),
2 bad command line, 3 duplicate, 4 rate limited, 5 unknown id, 6 nothing to change.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from benchmark.errors import ValidationFailed
from leaderboard.errors import AlreadyInStatus, DuplicateSubmission, RateLimited, SubmissionNotFound
from leaderboard.store import DEFAULT_DB_PATH

EXIT_INVALID, EXIT_USAGE, EXIT_DUPLICATE, EXIT_RATE_LIMITED, EXIT_NOT_FOUND, EXIT_UNCHANGED = 1, 2, 3, 4, 5, 6

DB_ENV = "MLLMU_DB"
"""The environment variable naming the store, shared with the app (``settings.AppSettings.db``)."""

_METADATA_FLAGS = (
    ("model_name", "display name of the model"),
    ("hub_repo", "Hub repo id, owner/name"),
    ("hub_revision", "Hub revision of the model"),
    ("base_model", "base model, e.g. llava-hf/llava-1.5-7b-hf"),
    ("method", "unlearning method ('vanilla' for none)"),
    ("forget_ratio", "forget split: 5, 10 or 15"),
    ("unlearning_modality", "multimodal, text or none"),
    ("protocol", "official or strict (upstream files: official)"),
    ("protocol_version", "protocol version (upstream files: 'upstream')"),
    ("submitter", "who submits"),
    ("link", "paper or code URL"),
    ("notes", "free text"),
)


_DESCRIPTION = """\
Ingest, moderate and export the submissions of the MLLMU-Bench leaderboard.
The store is one SQLite file, created with the reference rows on first use."""

_EPILOG = f"""\
The store: --db PATH, else the environment variable {DB_ENV} (the app reads it
too), else {DEFAULT_DB_PATH} relative to the working directory.

Exit status: 0 success, 1 invalid input (messages on stderr, one per field),
2 bad command line, 3 duplicate, 4 rate limited, 5 unknown id,
6 nothing to change (approving an approved submission)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m leaderboard",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    db = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    db.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"SQLite store, created if absent (default: ${DB_ENV} when set, else {DEFAULT_DB_PATH})",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser(
        "ingest",
        parents=[db],
        allow_abbrev=False,
        help="validate and store a results file; prints the new id",
        description="Validate a results file (upstream's or our submission file) and store it, pending unless "
        "--approve; prints the new submission's id.",
    )
    ingest.add_argument("file", type=Path, help="upstream *_final_evaluation_results.json or <run>.submission.json")
    ingest.add_argument(
        "--samples", type=Path, help="<run>.samples.jsonl, for counts and confidence intervals (default: none)"
    )
    ingest.add_argument(
        "--accuracy-scale",
        choices=("percent", "fraction"),
        default="percent",
        help="scale of the accuracies in an upstream file (default: percent, as upstream writes them)",
    )
    ingest.add_argument("--approve", action="store_true", help="store as approved instead of pending")
    meta = ingest.add_argument_group(
        "submission metadata",
        "Upstream files carry none, so the required fields come from these flags; "
        "for a submission file they override its metadata, field by field.",
    )
    for name, text in _METADATA_FLAGS:
        meta.add_argument(f"--{name.replace('_', '-')}", dest=name, help=text)

    listing = sub.add_parser("list", parents=[db], help="list submissions with their cells")
    listing.add_argument("--format", choices=("json", "csv"), default="json", help="output format (default: json)")
    listing.add_argument(
        "--status", choices=("pending", "approved", "rejected", "withdrawn"),
        help="only submissions with this status (default: all)",
    )

    for name in ("approve", "reject", "withdraw"):
        cmd = sub.add_parser(name, parents=[db], help=f"{name} a submission")
        cmd.add_argument("id", type=int, help="the submission's id, as ingest and list print it")
        cmd.add_argument("--reason", help="recorded with the status (default: none)")

    export = sub.add_parser("export", parents=[db], help="the ranked table of approved submissions")
    export.add_argument(
        "--protocol", choices=("official", "strict"), default="official", help="which table (default: official)"
    )
    export.add_argument(
        "--metrics",
        choices=("primary", "all"),
        default="primary",
        help="primary: the headline metric of each set, task and modality; all: every metric (default: primary)",
    )
    export.add_argument(
        "--board", choices=("real", "demo"), default="real",
        help="real: reference and submitted rows; demo: the toy demo models (default: real)",
    )
    export.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (default: csv)")
    export.add_argument("--out", type=Path, metavar="FILE", help="write here (default: standard output)")

    sub.add_parser("schema", help="print the JSON Schema of the submission file")
    return parser


def db_path(given: Path | None) -> Path:
    """The store to open: ``--db``, else ``$MLLMU_DB`` when set and not empty, else the default file."""
    if given is not None:
        return given
    from_env = os.environ.get(DB_ENV, "").strip()
    return Path(from_env) if from_env else DEFAULT_DB_PATH


def _record_json(record: Any) -> dict[str, Any]:
    sub = record.submission
    return {
        "id": record.id,
        "status": record.status.value,
        "status_reason": record.status_reason,
        "source_format": record.source_format.value,
        "content_hash": record.content_hash,
        "filename": record.filename,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "warnings": list(record.warnings),
        "schema_version": sub.schema_version,
        "metadata": sub.metadata.model_dump(mode="json"),
        "provenance": None if sub.provenance is None else sub.provenance.model_dump(mode="json"),
        "cells": [{"key": c.key.id, **c.model_dump(mode="json")} for c in sub.cells],
    }


_CSV_COLUMNS = (
    "id", "status", "source_format", "model_name", "base_model", "method", "forget_ratio", "unlearning_modality",
    "protocol", "protocol_version", "submitter", "key", "set", "task", "modality", "metric", "value", "unit", "n",
    "n_unparsed", "ci_low", "ci_high", "ci_method",
)  # fmt: skip


def _write_list(records: list[Any], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump([_record_json(r) for r in records], out, indent=2, ensure_ascii=False)
        out.write("\n")
        return
    writer = csv.DictWriter(out, fieldnames=_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        meta = record.submission.metadata.model_dump(mode="json")
        base = {"id": record.id, "status": record.status.value, "source_format": record.source_format.value}
        for cell in record.submission.cells:
            row = {**base, **{k: meta[k] for k in _CSV_COLUMNS if k in meta}, "key": cell.key.id}
            row |= {k: v for k, v in cell.model_dump(mode="json").items() if k in _CSV_COLUMNS}
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})


def _export(table: Any, fmt: str) -> str:
    from leaderboard.views import neutralised

    frame = table.frame
    if fmt == "csv":
        buffer = io.StringIO()  # no submitted text may run as a spreadsheet formula
        neutralised(frame).to_csv(buffer, index=False, float_format=None, lineterminator="\n")
        return buffer.getvalue()
    from leaderboard.views import json_value

    rows = [{k: json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    columns = [{"id": c.id, "label": c.label, "lower_is_better": c.lower_is_better, "unit": "0-100"}
               for c in table.columns]
    doc = {"protocol": table.protocol.value, "scale": "0-100 (ROUGE and BLEU x100)", "columns": columns, "rows": rows}
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "schema":
        from benchmark.submission import submission_json_schema

        sys.stdout.write(json.dumps(submission_json_schema(), indent=2) + "\n")
        return 0

    from benchmark.metrics import Unit
    from benchmark.vocabulary import Protocol
    from leaderboard.service import Leaderboard, LeaderboardSettings
    from leaderboard.store import Status

    settings = LeaderboardSettings(db_path=db_path(args.db))
    try:
        with Leaderboard.open(settings) as board:
            if args.command == "ingest":
                metadata = {name: getattr(args, name) for name, _ in _METADATA_FLAGS if getattr(args, name)}
                if "forget_ratio" in metadata:
                    ratio = metadata["forget_ratio"]
                    metadata["forget_ratio"] = int(ratio) if ratio.isdigit() else ratio
                data = _read(args.file, "file")
                samples = _read(args.samples, "samples") if args.samples else None
                stored = board.submit(
                    data,
                    filename=args.file.name,
                    samples=samples,
                    metadata=metadata,
                    accuracy_unit=Unit(args.accuracy_scale),
                    status=Status.APPROVED if args.approve else Status.PENDING,
                )
                for warning in stored.warnings:
                    print(f"warning: {warning}", file=sys.stderr)
                print(stored.id)
            elif args.command == "list":
                records = board.submissions(Status(args.status) if args.status else None)
                _write_list(records, args.format, sys.stdout)
            elif args.command in ("approve", "reject", "withdraw"):
                change = {"approve": board.approve, "reject": board.reject, "withdraw": board.withdraw}
                record = change[args.command](args.id, reason=args.reason)
                print(f"{record.id} {record.status.value}")
            elif args.command == "export":
                from leaderboard.views import BOARDS

                table = board.table(Protocol(args.protocol), metrics=args.metrics, kinds=BOARDS[args.board])
                text = _export(table, args.format)
                if args.out:
                    args.out.write_text(text, encoding="utf-8")
                else:
                    sys.stdout.write(text)
    except ValidationFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except DuplicateSubmission as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DUPLICATE
    except RateLimited as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_RATE_LIMITED
    except SubmissionNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except AlreadyInStatus as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNCHANGED
    return 0


def _read(path: Path, field: str) -> bytes:
    from benchmark.errors import FieldIssue

    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationFailed([FieldIssue(field, f"cannot read {path}: {exc.strerror}")], source=str(path)) from None
