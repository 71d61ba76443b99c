"""Read MLLMU-Bench from the demo, a local folder or the Hub, into :mod:`benchmark.dataset` objects.

The folder layout is the Hub dataset's (``MLLMMU/MLLMU-Bench``): one folder per
config (``Full_Set``, ``forget_5`` ... ``retain_85``, ``Test_Set``, ``Retain_Set``,
``ft_Data``), each holding one or more ``*.parquet`` shards. Any subset of the
folders may be present; whatever is present is validated, and a problem is
reported with the file, the row and the field, so a broken download can be
found and fixed.

Command line (``python -m probes.data describe`` is the same command)::

    python -m benchmark describe --data demo
    python -m benchmark describe --data /path/to/MLLMU-Bench
    python -m benchmark describe --data MLLMMU/MLLMU-Bench --revision main
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from benchmark.dataset import Benchmark, Cloze, FinetunePair, FinetuneRecord, Generation, MultipleChoice, Profile
from benchmark.errors import DatasetError
from benchmark.vocabulary import FINETUNE_FOLDER, LETTERS, Modality, Split

DEMO = "demo"
"""The source name of the embedded demo benchmark."""

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo" / "data"
"""Where the embedded demo benchmark lies (data only: it is written by ``python -m demo data``)."""

HUB_REPO = "MLLMMU/MLLMU-Bench"
"""The official benchmark's Hub dataset id."""

_EVAL_COLUMNS = ("ID", "biography", "Classification_Task", "Generation_Task", "Mask_Task")


class _Where:
    """Where a value came from, for error messages: file, row, ID and field."""

    def __init__(self, file: Path, row: int, pid: object = None) -> None:
        self.file, self.row, self.pid = file, row, pid

    def fail(self, field: str, problem: str) -> DatasetError:
        who = f" (ID {self.pid!r})" if self.pid is not None else ""
        return DatasetError(f"{self.file}: row {self.row}{who}, field {field!r}: {problem}")


# --------------------------------------------------------------------------- sources


def resolve_source(source: str | Path, revision: str | None = None) -> tuple[Path, str | None]:
    """Turn ``demo``, a folder path or a Hub dataset id into a local folder.

    Returns the folder and, for the Hub, the resolved commit hash. Hub datasets
    are fetched with :func:`huggingface_hub.snapshot_download` (parquet files
    only), which shows download progress and, with ``HF_HUB_OFFLINE=1``, reads
    from the local Hub cache without any network access.
    """
    if str(source) == DEMO:
        if not DEMO_DIR.is_dir():
            raise DatasetError(f"the demo benchmark is missing at {DEMO_DIR}; regenerate it with `python -m demo data`")
        return DEMO_DIR, None
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise DatasetError(f"{path} is a file; pass the dataset's top folder (the one holding Full_Set/, ...)")
        return path, None
    text = str(source)
    if text.count("/") != 1 or text.startswith((".", "/", "~")):
        raise DatasetError(f"{text!r} is neither 'demo', an existing folder, nor a Hub dataset id like {HUB_REPO!r}")
    return _download(text, revision)


def _download(repo_id: str, revision: str | None) -> tuple[Path, str]:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        folder = Path(
            snapshot_download(
                repo_id,
                repo_type="dataset",
                revision=revision,
                allow_patterns=["*/*.parquet", "README.md"],
            )
        )
    except RepositoryNotFoundError as e:
        raise DatasetError(f"Hub dataset {repo_id!r} not found (or private: log in with `hf auth login`)") from e
    except RevisionNotFoundError as e:
        raise DatasetError(f"Hub dataset {repo_id!r} has no revision {revision!r}") from e
    except LocalEntryNotFoundError as e:
        raise DatasetError(
            f"Hub dataset {repo_id!r} (revision {revision or 'main'}) is not in the local cache and the Hub "
            "cannot be reached (HF_HUB_OFFLINE is set or there is no network); download it once online"
        ) from e
    return folder, folder.name


# --------------------------------------------------------------------------- parsing


def _read_folder(folder: Path) -> list[tuple[Path, list[dict[str, Any]], list[str]]]:
    """Read every parquet shard of one config folder: (file, rows, column names) per shard."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = sorted(folder.glob("*.parquet"))
    if not shards:
        raise DatasetError(f"{folder}: no .parquet files in this folder")
    out = []
    for shard in shards:
        try:
            table = pq.read_table(shard)
        except (pa.ArrowInvalid, OSError) as e:
            raise DatasetError(f"{shard}: not a readable parquet file ({e})") from e
        out.append((shard, table.to_pylist(), table.column_names))
    return out


def _require_columns(file: Path, columns: list[str], needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DatasetError(
            f"{file}: missing column(s) {', '.join(map(repr, missing))} (columns present: {', '.join(columns)})"
        )


def _image_bytes(value: Any, where: _Where, field: str) -> bytes:
    from PIL import Image, UnidentifiedImageError

    data = value.get("bytes") if isinstance(value, dict) else value
    if not isinstance(data, bytes | bytearray) or not data:
        raise where.fail(field, "no image bytes (expected a {'bytes': ..., 'path': ...} struct with bytes)")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise where.fail(field, f"image bytes cannot be decoded ({e})") from e
    return bytes(data)


def _text(value: Any, where: _Where, field: str) -> str:
    if not isinstance(value, str):
        raise where.fail(field, f"expected a string, got {type(value).__name__}")
    return value


def _question_objects(items: Any, where: _Where, field: str, keys: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each question object of a (possibly absent) list column, with its field path for error messages."""
    if items is None:
        return
    if not isinstance(items, list):
        raise where.fail(field, f"expected a list of questions, got {type(items).__name__}")
    for k, q in enumerate(items):
        f = f"{field}[{k}]"
        if not isinstance(q, dict):
            raise where.fail(f, f"expected a {{{keys}}} object")
        yield f, q


def _multiple_choice(items: Any, modality: Modality, where: _Where, field: str) -> list[MultipleChoice]:
    out = []
    for f, q in _question_objects(items, where, field, "Question, Options, Correct_Answer"):
        options = q.get("Options")
        if not isinstance(options, dict) or any(not isinstance(options.get(x), str) for x in LETTERS):
            raise where.fail(f + ".Options", f"expected options A, B, C and D as strings, got {options!r}")
        correct = q.get("Correct_Answer")
        correct = correct.strip().upper() if isinstance(correct, str) else correct
        if correct not in LETTERS:
            raise where.fail(f + ".Correct_Answer", f"{q.get('Correct_Answer')!r} is not one of the options A-D")
        out.append(
            MultipleChoice(
                question=_text(q.get("Question"), where, f + ".Question"),
                options={x: options[x] for x in LETTERS},
                correct=correct,
                modality=modality,
            )
        )
    return out


def _open_questions(items: Any, cls: type[Generation] | type[Cloze], where: _Where, field: str) -> list[Any]:
    out = []
    for f, q in _question_objects(items, where, field, "Question, Ground_Truth, Type"):
        try:
            modality = Modality.from_upstream(q.get("Type"))  # type: ignore[arg-type]
        except ValueError as e:
            raise where.fail(f + ".Type", str(e)) from e
        text = _text(q.get("Question"), where, f + ".Question")
        if cls is Cloze and "__" not in text:
            raise where.fail(f + ".Question", "a cloze question must contain the blank '__'")
        out.append(
            cls(question=text, ground_truth=_text(q.get("Ground_Truth"), where, f + ".Ground_Truth"), modality=modality)
        )
    return out


def _profile(row: dict[str, Any], split: Split | None, where: _Where) -> Profile:
    pid = row.get("ID")
    if not isinstance(pid, str) or not pid.strip():
        raise where.fail("ID", f"expected a non-empty string ID, got {pid!r}")
    raw_bio = row.get("biography")
    try:
        bio = json.loads(raw_bio) if isinstance(raw_bio, str) and raw_bio.strip() else {}
    except json.JSONDecodeError as e:
        raise where.fail("biography", f"not valid JSON ({e})") from e
    if not isinstance(bio, dict):
        bio = {"text": bio}
    if split is Split.TEST:
        images = row.get("images")
        if not isinstance(images, list) or not images:
            raise where.fail("images", "expected a non-empty list of images")
        portraits = tuple(_image_bytes(im, where, f"images[{k}]") for k, im in enumerate(images))
    else:
        portraits = (_image_bytes(row.get("image"), where, "image"),)
    cls_task = row.get("Classification_Task") or {}
    if not isinstance(cls_task, dict):
        raise where.fail("Classification_Task", "expected {Image_Textual_Questions, Pure_Text_Questions}")
    mc = _multiple_choice(
        cls_task.get("Image_Textual_Questions"),
        Modality.IMAGE_TEXT,
        where,
        "Classification_Task.Image_Textual_Questions",
    ) + _multiple_choice(
        cls_task.get("Pure_Text_Questions"), Modality.TEXT, where, "Classification_Task.Pure_Text_Questions"
    )
    name = bio.get("Name") or bio.get("name") or ""
    return Profile(
        id=pid,
        name=str(name),
        biography=bio,
        images=portraits,
        split=split,
        question=row.get("question") or "",
        answer=row.get("answer") or "",
        multiple_choice=tuple(mc),
        generation=tuple(_open_questions(row.get("Generation_Task"), Generation, where, "Generation_Task")),
        cloze=tuple(_open_questions(row.get("Mask_Task"), Cloze, where, "Mask_Task")),
    )


def _finetune_record(row: dict[str, Any], where: _Where) -> FinetuneRecord:
    pid = row.get("ID")
    try:
        meta = json.loads(_text(row.get("metadata"), where, "metadata"))
    except json.JSONDecodeError as e:
        raise where.fail("metadata", f"not valid JSON ({e})") from e
    if not isinstance(meta, list):
        raise where.fail("metadata", "expected a JSON list of {ID, Question, Answer} objects")
    pairs = []
    for k, item in enumerate(meta):
        if not isinstance(item, dict):
            raise where.fail(f"metadata[{k}]", "expected an {ID, Question, Answer} object")
        pairs.append(
            FinetunePair(
                question=_text(item.get("Question"), where, f"metadata[{k}].Question"),
                answer=_text(item.get("Answer"), where, f"metadata[{k}].Answer"),
            )
        )
        pid = pid or item.get("ID")
    if not isinstance(pid, str) or not pid:
        raise where.fail("ID", "no profile ID in the row or its metadata")
    return FinetuneRecord(id=pid, image=_image_bytes(row.get("image"), where, "image"), pairs=tuple(pairs))


# --------------------------------------------------------------------------- fingerprint


def _digest_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, dict):
        return {k: _digest_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_digest_value(v) for v in value]
    return value


class _Hasher:
    """A content hash over decoded rows, so it is independent of parquet encoding and sharding."""

    def __init__(self) -> None:
        self._h = hashlib.sha256(b"mllmu-bench-fingerprint/v1\n")

    def add(self, folder: str, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self._h.update(folder.encode())
            self._h.update(json.dumps(_digest_value(row), sort_keys=True, ensure_ascii=False).encode())
            self._h.update(b"\n")

    def hexdigest(self) -> str:
        return self._h.hexdigest()[:16]


# --------------------------------------------------------------------------- loading


def _iter_rows(folder: Path) -> Iterator[tuple[Path, int, dict[str, Any], list[str]]]:
    for file, rows, columns in _read_folder(folder):
        for i, row in enumerate(rows):
            yield file, i, row, columns


def load_folder(
    folder: Path, *, source: str | None = None, revision: str | None = None, splits: Iterable[Split] | None = None
) -> Benchmark:
    """Load and validate a benchmark laid out as the Hub dataset, from ``folder``.

    Args:
        folder: The dataset's top folder (holding ``Full_Set/`` etc.).
        source: What to record as the benchmark's source (defaults to the folder path).
        revision: The Hub commit it came from, if any.
        splits: Only load these splits (default: every split present). ``ft_Data``
            is loaded whenever present and no split filter is given.

    Raises:
        DatasetError: naming the file, row and field of the first problem found.
    """
    folder = Path(folder)
    wanted = set(splits) if splits is not None else set(Split)
    hasher = _Hasher()
    loaded: dict[Split, tuple[Profile, ...]] = {}
    for split in Split:  # fixed order: the fingerprint must not depend on the filesystem
        sub = folder / split.folder
        if split not in wanted or not sub.is_dir():
            continue
        profiles = []
        seen: set[str] = set()
        rows = []
        for file, i, row, columns in _iter_rows(sub):
            needed = [*_EVAL_COLUMNS, "images" if split is Split.TEST else "image"]
            if i == 0:
                _require_columns(file, columns, needed)
            where = _Where(file, i, row.get("ID"))
            profile = _profile(row, split, where)
            if profile.id in seen:
                raise where.fail("ID", f"duplicate ID {profile.id!r} in {split.folder}")
            seen.add(profile.id)
            profiles.append(profile)
            rows.append(row)
        hasher.add(split.folder, rows)
        loaded[split] = tuple(profiles)
    finetune: tuple[FinetuneRecord, ...] = ()
    ft_dir = folder / FINETUNE_FOLDER
    if splits is None and ft_dir.is_dir():
        records, rows = [], []
        for file, i, row, columns in _iter_rows(ft_dir):
            if i == 0:
                _require_columns(file, columns, ("image", "metadata"))
            records.append(_finetune_record(row, _Where(file, i, row.get("ID"))))
            rows.append(row)
        hasher.add(FINETUNE_FOLDER, rows)
        finetune = tuple(records)
    if not loaded and not finetune:
        expected = ", ".join(s.folder + "/" for s in Split)
        raise DatasetError(f"{folder}: no MLLMU-Bench folders found (expected some of {expected} {FINETUNE_FOLDER}/)")
    _check_ids(folder, loaded)
    return Benchmark(
        source=source or str(folder),
        revision=revision,
        fingerprint=hasher.hexdigest(),
        splits=loaded,
        finetune=finetune,
    )


def _check_ids(folder: Path, loaded: dict[Split, tuple[Profile, ...]]) -> None:
    """Every forget, retain and test ID must be a profile of the full set (when the full set is present)."""
    if Split.FULL not in loaded:
        return
    full_ids = {p.id for p in loaded[Split.FULL]}
    for split, profiles in loaded.items():
        if split in (Split.FULL, Split.CELEBRITY):
            continue
        for i, p in enumerate(profiles):
            if p.id not in full_ids:
                raise DatasetError(
                    f"{folder / split.folder}: row {i}, field 'ID': {split.value} ID {p.id!r} is absent from the "
                    f"full set ({Split.FULL.folder}/); the folders come from different dataset versions"
                )


def load_benchmark(
    source: str | Path = DEMO, *, revision: str | None = None, splits: Iterable[Split] | None = None
) -> Benchmark:
    """Load MLLMU-Bench from ``demo``, a local folder or a Hub dataset id (see :func:`resolve_source`)."""
    folder, resolved = resolve_source(source, revision)
    return load_folder(folder, source=str(source), revision=resolved, splits=splits)


@functools.lru_cache(maxsize=4)
def load_benchmark_cached(source: str = DEMO, revision: str | None = None) -> Benchmark:
    """:func:`load_benchmark`, memoised per (source, revision) for long-running processes such as the app."""
    return load_benchmark(source, revision=revision)


# --------------------------------------------------------------------------- CLI


def describe(benchmark: Benchmark) -> dict[str, Any]:
    """The JSON summary printed by ``python -m benchmark describe``."""
    return {
        "source": benchmark.source,
        "revision": benchmark.revision,
        "fingerprint": benchmark.fingerprint,
        "splits": {s.value: c.model_dump() for s, c in benchmark.counts().items()},
        "finetune": {
            "profiles": len(benchmark.finetune),
            "pairs": sum(len(r.pairs) for r in benchmark.finetune),
        },
    }


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m benchmark`` argument parser."""
    parser = argparse.ArgumentParser(prog="python -m benchmark", description="Inspect an MLLMU-Bench dataset.")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("describe", help="print the fingerprint and per-split profile and question counts as JSON")
    d.add_argument(
        "--data",
        default=DEMO,
        help=f"'demo', a local folder in the Hub layout, or a Hub dataset id such as {HUB_REPO} "
        "(default: %(default)s)",
    )
    d.add_argument(
        "--revision",
        default=None,
        help="Hub revision (branch, tag or commit) when --data is a Hub id (default: main)",
    )
    return parser


def main(argv: list[str] | None = None, *, out: Callable[[str], Any] = print) -> int:
    """Command line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        bench = load_benchmark(args.data, revision=args.revision)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out(json.dumps(describe(bench), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
