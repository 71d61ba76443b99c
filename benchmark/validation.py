"""Turning parse and validation failures into field-level messages.

Two helpers used by the schema reader and by ingestion:

* :func:`issues_from_pydantic` converts a pydantic ``ValidationError`` into
  :class:`~benchmark.errors.FieldIssue` objects with readable paths
  (``cells[3].value``), the offending value, and for unknown keys the nearest
  known name (``did you mean 'model_name'?``, via :mod:`difflib`).
* :func:`load_json_document` reads bytes into a JSON object, refusing empty
  files, files over a size limit, undecodable text, non-object documents and
  hostile JSON: nesting deeper than :data:`MAX_JSON_DEPTH`, integers longer
  than :data:`MAX_INT_DIGITS` digits and duplicate keys.

It also holds :func:`refused_character`, the check that keeps control and
invisible characters out of the text fields shown to other users.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import types
import typing
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from benchmark.errors import FieldIssue, ValidationFailed

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects in an uploaded JSON file (a real result file nests 3 or 4 levels).

Checked on the text before decoding: Python's decoder recurses once per level and fails near 1,000.
"""

MAX_INT_DIGITS = 20
"""Most digits an integer in an uploaded JSON file may have (2**64 has 20).

Longer integers are refused before Python converts them, which is slow and fails above 4,300 digits.
"""

MAX_DOCUMENT_ISSUES = 20
"""Most duplicate-key and long-integer issues reported for one file (a hostile file could hold thousands)."""

REFUSED_CATEGORIES: dict[str, str] = {
    "Cc": "control character",
    "Cf": "invisible character",
    "Zl": "invisible character",
    "Zp": "invisible character",
}
"""Unicode categories refused in text fields, with how a message calls them.

``Cf`` (format) holds every bidirectional override, embedding, isolate and mark (U+202A-U+202E,
U+2066-U+2069, U+200E, U+200F, U+061C) and every zero-width character (U+200B-U+200D, U+2060,
U+FEFF); ``Zl`` and ``Zp`` are the line and paragraph separators U+2028 and U+2029.
"""


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


def refused_character(text: str, *, allow: str = "") -> str | None:
    """Why ``text`` is refused for its first control or invisible character (``None`` when it has none).

    Args:
        text: The value of a text field.
        allow: Characters accepted despite their category (newline and tab for free text).

    Returns:
        E.g. ``contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE); remove it``.
    """
    for char in text:
        kind = REFUSED_CATEGORIES.get(unicodedata.category(char))
        if kind is not None and char not in allow:
            name = unicodedata.name(char, "")
            return f"contains the {kind} U+{ord(char):04X}{f' ({name})' if name else ''}; remove it"
    return None


_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
"""A JSON string literal, or an unterminated one up to the end of the text (so that scanning stays linear)."""

_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in the JSON ``text`` (``[[1]]``: 2), without decoding it.

    Brackets inside strings are skipped; the text need not be valid JSON.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def nesting_depth(value: object, *, cap: int) -> int:
    """How deeply dicts and lists nest in a decoded value (``1``: 0, ``{}``: 1, ``{"a": [1]}``: 2), at most ``cap``.

    Counting stops at ``cap`` levels, so deep (or even circular) values cost no more than ``cap`` levels.
    """
    if not isinstance(value, (dict, list, tuple)):
        return 0
    if cap <= 1:
        return 1
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((nesting_depth(child, cap=cap - 1) for child in children), default=0)


@dataclass(frozen=True)
class _LongInteger:
    """Stands in for an integer literal with more than :data:`MAX_INT_DIGITS` digits."""

    digits: int


class _DuplicateKeys(dict[str, Any]):
    """A decoded JSON object in which some keys appeared more than once (the last value of each is kept)."""

    def __init__(self, pairs: list[tuple[str, Any]], repeated: dict[str, int]) -> None:
        super().__init__(pairs)
        self.repeated = repeated
        """How often each repeated key appeared."""


class _Hooks:
    """``json.loads`` hooks that mark long integers and duplicate keys, for :func:`_literal_issues` to report."""

    def __init__(self) -> None:
        self.suspect = False
        """Whether a marker was placed (the document is only walked then)."""

    def integer(self, literal: str) -> int | _LongInteger:
        """``parse_int``: the integer, or a marker when it has too many digits to convert safely."""
        digits = len(literal.lstrip("-"))
        if digits <= MAX_INT_DIGITS:
            return int(literal)
        self.suspect = True
        return _LongInteger(digits)

    def object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        """``object_pairs_hook``: the object, marked when a key appears more than once."""
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        self.suspect = True
        counts = Counter(key for key, _ in pairs)
        return _DuplicateKeys(pairs, {key: count for key, count in counts.items() if count > 1})


def _literal_issues(value: object, loc: list[str | int], source: str) -> Iterator[FieldIssue]:
    """Issues for the long integers and duplicate keys marked by :class:`_Hooks` in ``value``, with their paths."""
    if isinstance(value, _LongInteger):
        yield FieldIssue(
            format_loc(loc) if loc else source,
            f"is an integer with {value.digits:,} digits; at most {MAX_INT_DIGITS} digits are allowed",
        )
    elif isinstance(value, dict):
        for key, count in getattr(value, "repeated", {}).items():
            yield FieldIssue(
                format_loc([*loc, key]), f"duplicate key {key!r}: it appears {count} times in the same object"
            )
        for key, item in value.items():
            yield from _literal_issues(item, [*loc, key], source)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _literal_issues(item, [*loc, index], source)


def _decode(text: str, source: str) -> Any:
    """``json.loads`` with bounded nesting and integers and without duplicate keys.

    Raises:
        ValidationFailed: The text is too deeply nested, is not JSON, or holds long integers or duplicate keys.
    """
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValidationFailed(
            [FieldIssue(source, f"nests {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed")], source=source
        )
    hooks = _Hooks()
    try:
        doc = json.loads(text, parse_int=hooks.integer, object_pairs_hook=hooks.object)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            [FieldIssue(source, f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")],
            source=source,
        ) from None
    if hooks.suspect:
        raise ValidationFailed(
            list(itertools.islice(_literal_issues(doc, [], source), MAX_DOCUMENT_ISSUES)), source=source
        )
    return doc


def load_json_document(data: bytes | str, *, max_bytes: int, source: str = "file") -> dict[str, Any]:
    """Decode ``data`` as one JSON object, refusing empty, oversized, undecodable, hostile and non-object input.

    Hostile input: nesting deeper than :data:`MAX_JSON_DEPTH`, integers with more than
    :data:`MAX_INT_DIGITS` digits and keys repeated within an object. ``NaN`` and
    ``Infinity`` tokens are accepted by the decoder on purpose, so that validation
    can name the field that holds them.

    Raises:
        ValidationFailed: With issues on field ``source``, or on the paths of long integers and duplicate keys.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise ValidationFailed(
            [FieldIssue(source, f"is {len(raw):,} bytes, over the {max_bytes:,}-byte limit")], source=source
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            [FieldIssue(source, f"is not UTF-8 text ({exc.reason} at byte {exc.start})")], source=source
        ) from None
    if not text.strip():
        raise ValidationFailed([FieldIssue(source, "the file is empty")], source=source)
    doc = _decode(text, source)
    if not isinstance(doc, dict):
        raise ValidationFailed(
            [FieldIssue(source, f"must contain a JSON object at the top level, got {type(doc).__name__}")],
            source=source,
        )
    if not doc:
        raise ValidationFailed([FieldIssue(source, "contains an empty JSON object")], source=source)
    return doc
