"""Turning parse and validation failures into field-level messages.

Two helpers used by the schema reader and by ingestion:

* :func:`issues_from_pydantic` converts a pydantic ``ValidationError`` into
  :class:`~benchmark.errors.FieldIssue` objects with readable paths
  (``cells[3].value``), the offending value, and for unknown keys the nearest
  known name (``did you mean 'model_name'?``, via :mod:`difflib`).
* :func:`load_json_document` reads bytes into a JSON object, refusing empty
  files, files over a size limit, undecodable text and non-object documents.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from benchmark.errors import FieldIssue, ValidationFailed


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``name`` (case-insensitive), or ``None`` when nothing is close."""
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[hits[0]] if hits else None


def unknown_key_message(key: str, candidates: Iterable[str], *, what: str = "key") -> str:
    """``unknown key 'x'; did you mean 'y'?`` (or the list of expected names when nothing is close)."""
    pool = sorted(candidates)
    hint = nearest(key, pool)
    if hint is not None:
        return f"unknown {what} {key!r}; did you mean {hint!r}?"
    return f"unknown {what} {key!r}; expected one of {', '.join(repr(c) for c in pool)}"


def format_loc(loc: Sequence[str | int]) -> str:
    """``('cells', 3, 'value')`` -> ``cells[3].value``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside an annotation like ``X``, ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None:
        return None
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, typing.Annotated):
        for arg in args:
            found = _model_in(arg)
            if found is not None:
                return found
    if origin is dict and len(args) == 2:
        return _model_in(args[1])
    return None


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model that owns the last element of ``loc`` (walking nested models, lists and dicts)."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _model_in(field.annotation)
    return current


def issues_from_pydantic(
    error: ValidationError, model: type[BaseModel], *, prefix: str = "", document: object = None
) -> list[FieldIssue]:
    """Field-level issues from a pydantic ``ValidationError`` raised while validating ``model``.

    Args:
        error: The error pydantic raised.
        model: The model that was validated (used to suggest names for unknown keys).
        prefix: Prepended to every field path (e.g. ``"metadata"``).
        document: The validated input; when given, the key of an offending result cell
            (``forget/classification/image_text/accuracy``) is added to its messages.

    Returns:
        One issue per pydantic error, in pydantic's order.
    """
    issues: list[FieldIssue] = []
    for err in error.errors():
        loc = [p for p in err["loc"] if isinstance(p, (str, int))]
        # pydantic appends the tag of a function validator to some locations; drop it.
        loc = [p for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
        path = format_loc(([prefix] if prefix else []) + loc)
        kind = err["type"]
        if kind == "extra_forbidden" and loc and isinstance(loc[-1], str):
            owner = _model_at(model, loc)
            known = list(owner.model_fields) if owner is not None else []
            message = unknown_key_message(loc[-1], known) if known else f"unknown key {loc[-1]!r}"
        elif kind == "missing":
            message = "required field is missing"
        else:
            message = err["msg"].removeprefix("Value error, ")
            if kind not in ("value_error", "assertion_error") and "input" in err:
                message += f" (got {type(err['input']).__name__} {_short(err['input'])})"
        cell = _cell_key(document, loc)
        if cell:
            message += f" [cell {cell}]"
        issues.append(FieldIssue(path, message))
    return issues


def _cell_key(document: object, loc: Sequence[str | int]) -> str | None:
    if not (isinstance(document, dict) and len(loc) >= 2 and loc[0] == "cells" and isinstance(loc[1], int)):
        return None
    cells = document.get("cells")
    if not isinstance(cells, list) or not 0 <= loc[1] < len(cells) or not isinstance(cells[loc[1]], dict):
        return None
    parts = [cells[loc[1]].get(k) for k in ("set", "task", "modality", "metric")]
    return "/".join(str(p) for p in parts) if all(isinstance(p, str) for p in parts) else None


def load_json_document(data: bytes | str, *, max_bytes: int, source: str = "file") -> dict[str, Any]:
    """Decode ``data`` as one JSON object, refusing empty, oversized, undecodable and non-object input.

    ``NaN`` and ``Infinity`` tokens are accepted by the decoder on purpose, so
    that validation can name the field that holds them.

    Raises:
        ValidationFailed: With a single issue on field ``source``.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise ValidationFailed(
            [FieldIssue(source, f"is {len(raw):,} bytes, over the {max_bytes:,}-byte limit")], source=source
        )
    if not raw.strip():
        raise ValidationFailed([FieldIssue(source, "is empty")], source=source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed([FieldIssue(source, f"is not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            [FieldIssue(source, f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")],
            source=source,
        ) from None
    if not isinstance(doc, dict):
        raise ValidationFailed(
            [FieldIssue(source, f"must contain a JSON object at the top level, got {type(doc).__name__}")],
            source=source,
        )
    if not doc:
        raise ValidationFailed([FieldIssue(source, "contains an empty JSON object")], source=source)
    return doc
