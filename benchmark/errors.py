"""Errors about benchmark data and result files, each carrying what a user needs to fix the problem.

Validation never stops at the first problem: :class:`ValidationFailed` carries
every :class:`FieldIssue` found, each naming the field (a dotted path such as
``cells[3].value`` or ``Forget Set Results.generation``) and saying what is
wrong with it. Messages are plain text; a UI escapes them for where it shows them.
"""

from __future__ import annotations

from dataclasses import dataclass


class DatasetError(ValueError):
    """The dataset on disk does not match the MLLMU-Bench layout; the message says where and why."""


@dataclass(frozen=True)
class FieldIssue:
    """One problem with one field of an uploaded file or of the metadata."""

    field: str
    """Dotted path of the offending field (``metadata.forget_ratio``, ``cells[2].value``, ``file``)."""
    message: str
    """What is wrong and, where possible, how to fix it (e.g. a nearest-name suggestion)."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def not_accepted(issues: tuple[FieldIssue, ...] | list[FieldIssue]) -> str:
    """A refused form or upload in plain text: how many problems, then one ``- field: message`` line each."""
    lines = [f"Not accepted: {len(issues)} problem(s); nothing was stored."]
    return "\n".join([*lines, *(f"- {issue}" for issue in issues)])


class ValidationFailed(ValueError):
    """A result file, its samples or its metadata did not validate; nothing was stored."""

    def __init__(self, issues: list[FieldIssue] | tuple[FieldIssue, ...], *, source: str = "submission") -> None:
        self.issues: tuple[FieldIssue, ...] = tuple(issues)
        self.source = source
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"{source} is invalid ({len(self.issues)} problem(s)):\n{lines}")


class UnsupportedSchemaVersion(ValidationFailed):
    """A submission file declares a ``schema_version`` this code cannot read (newer, or unknown)."""

    def __init__(self, found: object, supported: int) -> None:
        self.found = found
        self.supported = supported
        if isinstance(found, int) and not isinstance(found, bool) and found > supported:
            message = (
                f"schema_version {found} is newer than this leaderboard understands (newest supported: "
                f"{supported}); upgrade mllmu-arena to read it, or write the file with a version <= {supported}"
            )
        else:
            message = f"schema_version must be an integer between 1 and {supported}, got {found!r}"
        super().__init__([FieldIssue("schema_version", message)])
