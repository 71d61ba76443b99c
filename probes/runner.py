"""Run a protocol's items through a model: batched, seeded, resumable, shardable.

The runner talks to models through the one model seam,
:class:`backend.model.Model`, so the same code drives a real vision-language
model and the registry's fakes used in tests.

Files written to the output folder for a run named ``NAME``:

- ``NAME.samples.jsonl``: one :class:`benchmark.records.SampleRecord` per question,
  appended as batches finish (so a crash loses at most one batch) and rewritten
  in plan order at the end (so two runs give identical files);
- ``NAME_final_evaluation_results.json``: upstream's layout and key names;
- ``NAME_{mode}_generation_results.json``: upstream's generation dumps;
- ``NAME.submission.json``: our versioned submission file;
- ``NAME.run.json``: the run's configuration, checked when resuming.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from typing import Protocol as Interface

from pydantic import BaseModel, ConfigDict, Field

from backend.model import Model, Request
from benchmark import metrics
from benchmark.dataset import Benchmark, MultipleChoice
from benchmark.extraction import ASSISTANT, first_char_decided
from benchmark.files import atomic_write, dumps
from benchmark.prompts import IMAGE_PLACEHOLDER
from benchmark.protocols import Item, plan
from benchmark.records import SampleRecord, aggregate, make_record, read_records
from benchmark.upstream import UPSTREAM_MODES, generation_results, upstream_results
from benchmark.vocabulary import LETTERS, EvalSet, Protocol, Split

# --------------------------------------------------------------------------- configuration


class RunConfig(BaseModel):
    """Everything that determines a run's results; recorded in ``NAME.run.json``."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Run name: the prefix of every output file.")
    model: str = Field(description="Model name, path or Hub id as given.")
    data: str = Field(description="Benchmark source as given.")
    dataset_fingerprint: str = Field(description="Content hash of the benchmark.")
    forget_ratio: int = Field(description="5, 10 or 15.")
    protocol: Protocol = Field(description="official or strict.")
    protocol_version: str = Field(description="Version of the protocol's prompts and scoring.")
    sets: tuple[EvalSet, ...] = Field(description="Evaluation sets run.")
    seed: int = Field(description="Seed of every random choice.")
    limit: int | None = Field(default=None, description="At most this many profiles per set (smoke runs).")
    prompt_style: str = Field(description="The model's prompt style.")


@dataclass
class RunOutput:
    """What a finished run produced."""

    records: list[SampleRecord]
    results: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    computed: int = 0
    """Questions computed in this invocation (the rest were resumed from disk)."""


class ResumeMismatch(RuntimeError):
    """The output folder holds a run of the same name with a different configuration."""


# --------------------------------------------------------------------------- helpers


def _limit(benchmark: Benchmark, limit: int | None) -> Benchmark:
    if limit is None:
        return benchmark
    # Keep the first N profiles of every evaluated split; the test set follows the (limited) forget split.
    # Full_Set is only where few-shot demos are looked up: kept whole, so a limited run asks each of its
    # questions with the same prompt as a full run (when the demo draw is the same).
    splits = {s: profiles if s is Split.FULL else profiles[:limit] for s, profiles in benchmark.splits.items()}
    return benchmark.model_copy(update={"splits": splits})


def plan_run(config: RunConfig, benchmark: Benchmark) -> list[Item]:
    """The questions a run asks, in order: the protocol's plan on the (limited) benchmark."""
    return plan(_limit(benchmark, config.limit), config.forget_ratio, config.protocol, sets=config.sets,
                seed=config.seed, style=config.prompt_style)


def _context(item: Item) -> tuple[object, ...]:
    """The few-shot block an item's prompt starts with, and its images (empty when it has none)."""
    if not item.shared:
        return ()
    if item.prompt is not None:
        block: object = item.prompt[: item.shared]
        images = item.prompt[: item.shared].count(IMAGE_PLACEHOLDER)
    else:
        turns = item.messages[: item.shared]
        block, images = tuple((t.role, t.text, t.images) for t in turns), sum(t.images for t in turns)
    return (block, item.images[:images])


def _batches(items: Sequence[Item], size: int) -> Iterator[list[Item]]:
    """Batches of one kind; the questions that share a few-shot block (:func:`_context`) together.

    The model computes a batch's shared prompt prefix once (:func:`backend.generation.generate_batch`);
    questions without a shared block are grouped by length, so padding is small. Greedy outputs do not depend
    on the grouping (``tests/probes`` checks batched against one-at-a-time).
    """
    def kind(i: Item) -> tuple[bool, int, bool, int]:
        return (i.score_letters, i.max_new_tokens, isinstance(i.question, MultipleChoice), len(i.images))

    def length(i: Item) -> int:
        return len(i.prompt) if i.prompt is not None else sum(len(turn.text) for turn in i.messages)

    seen: dict[tuple[object, ...], int] = {(): 0}  # each distinct block numbered in plan order (0: none)
    contexts = {i.key: seen.setdefault(_context(i), len(seen)) for i in items}
    order = sorted(items, key=lambda i: (kind(i), contexts[i.key], length(i)))
    batch: list[Item] = []
    for (_, context), group in itertools.groupby(order, key=lambda i: (kind(i), contexts[i.key])):
        members = list(group)
        if context and len(members) > 1:  # a shared block: batches of its own
            if batch:
                yield batch
                batch = []
            for start in range(0, len(members), size):
                yield members[start : start + size]
            continue
        for item in members:
            if batch and (len(batch) >= size or kind(batch[0]) != kind(item)):
                yield batch
                batch = []
            batch.append(item)
    if batch:
        yield batch


def question_text(item: Item) -> str:
    """The question as recorded: multiple choice with its options, cloze with its blank."""
    q = item.question
    if isinstance(q, MultipleChoice):
        return q.question + "".join(f"\n{x}: {o}" for x, o in q.options.items())
    return q.question


class Processes(Interface):
    """The processes of a run, as :class:`accelerate.PartialState` describes them (one process: :data:`ONE_PROCESS`)."""

    @property
    def num_processes(self) -> int:
        """How many processes share the run."""

    @property
    def process_index(self) -> int:
        """This process's rank, 0 for the main one."""

    def split_between_processes(self, inputs: list[Any]) -> AbstractContextManager[list[Any]]:
        """This process's contiguous share of ``inputs``."""

    def wait_for_everyone(self) -> None:
        """Return once every process got here."""


class _OneProcess:
    """A run in a single process: the whole plan, nothing to wait for (no accelerate needed)."""

    num_processes = 1
    process_index = 0

    @contextmanager
    def split_between_processes(self, inputs: list[Any]) -> Iterator[list[Any]]:
        yield inputs

    def wait_for_everyone(self) -> None:
        pass


ONE_PROCESS: Processes = _OneProcess()
"""The default :class:`Processes`: one process runs the whole plan."""


def _gather(values: list[Any], processes: Processes) -> list[Any]:
    """Every process's ``values``, concatenated in rank order (accelerate's ``gather_object``)."""
    if processes.num_processes == 1:
        return values
    from accelerate.utils import gather_object

    return list(gather_object(values))


# --------------------------------------------------------------------------- the run


def run(
    config: RunConfig,
    benchmark: Benchmark,
    model: Model,
    out_dir: Path,
    *,
    batch_size: int = 8,
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
    submission_builder: Callable[[RunConfig, list[SampleRecord]], str] | None = None,
    processes: Processes = ONE_PROCESS,
) -> RunOutput:
    """Evaluate ``model`` on ``benchmark`` as ``config`` says, writing the run's files to ``out_dir``.

    Resumes from ``NAME.samples.jsonl`` when it exists for the same configuration.

    Data-parallel (``processes`` is accelerate's ``PartialState`` under ``accelerate launch``): each process
    takes its contiguous share of the plan (``split_between_processes``) and appends its records to its
    own ``NAME.samples.rankR.jsonl`` (so each process resumes on its own); the records are then gathered
    (``gather_object``) and the main process writes the files in plan order, byte-identical to one
    process's. The other processes return a :class:`RunOutput` with no records and no files.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rank, world = processes.process_index, processes.num_processes
    samples_path = out_dir / f"{config.name}.samples.jsonl"
    run_path = out_dir / f"{config.name}.run.json"
    config_json = dumps(config.model_dump(mode="json"))
    if run_path.exists() and json.loads(run_path.read_text()) != json.loads(config_json):
        raise ResumeMismatch(
            f"{run_path} describes a different run of the same name; use another --name, another --out, "
            "or delete the old files to start over"
        )
    if rank == 0:
        atomic_write(run_path, config_json)

    items = plan_run(config, benchmark)
    shard_path = samples_path if world == 1 else out_dir / f"{config.name}.samples.rank{rank}.jsonl"
    done: dict[str, SampleRecord] = {}
    for path in [samples_path, *sorted(out_dir.glob(f"{config.name}.samples.rank*.jsonl"))]:
        done.update({r.key: r for r in read_records(path)})
    processes.wait_for_everyone()  # every process has read the old records before any appends new ones
    with processes.split_between_processes(list(items)) as share:
        mine: list[Item] = list(share)

    todo = [it for it in mine if it.key not in done]
    if todo:  # the scoring libraries import (0.3-0.9 s) while the model answers; scoring waits for them if needed
        metrics.warm_in_background()
    fresh = answer_items(todo, model, shard_path, batch_size=batch_size,
                         progress=progress, on_batch=on_batch,
                         desc=f"{config.name} [{rank + 1}/{world}]" if world > 1 else config.name)
    done.update({r.key: r for r in fresh})
    computed = len(fresh)

    if world > 1:
        gathered = _gather([done[it.key] for it in mine if it.key in done], processes)
        computed = sum(_gather([computed], processes))
        if rank != 0:
            return RunOutput(records=[], results={}, seconds=time.perf_counter() - started, computed=len(fresh))
        done.update({r.key: r for r in gathered})

    missing = [it.key for it in items if it.key not in done]
    if missing:
        raise RuntimeError(f"{len(missing)} questions have no record (first: {missing[0]}); rerun to resume")
    records = [done[it.key] for it in items]
    atomic_write(samples_path, "".join(r.model_dump_json() + "\n" for r in records))
    for path in out_dir.glob(f"{config.name}.samples.rank*.jsonl"):
        path.unlink()

    results = upstream_results(aggregate(records))
    files = {"samples": samples_path, "run": run_path}
    files["results"] = out_dir / f"{config.name}_final_evaluation_results.json"
    atomic_write(files["results"], dumps(results))
    for s in config.sets:
        path = out_dir / f"{config.name}_{UPSTREAM_MODES[s]}_generation_results.json"
        atomic_write(path, dumps(generation_results(records, s)))
        files[f"generation_{s.value}"] = path
    if submission_builder is not None:
        files["submission"] = out_dir / f"{config.name}.submission.json"
        atomic_write(files["submission"], submission_builder(config, records))
    return RunOutput(records=records, results=results, files=files, seconds=time.perf_counter() - started,
                     computed=computed)


def answer_items(
    items: Sequence[Item],
    model: Model,
    sink_path: Path,
    *,
    batch_size: int = 8,
    progress: bool = True,
    desc: str = "",
    on_batch: Callable[[int, int], None] | None = None,
) -> list[SampleRecord]:
    """Ask ``items``, batched, appending each finished batch's records to ``sink_path`` (fsynced); returns them.

    A crash loses at most one batch: :func:`benchmark.records.read_records` reads the sink back to resume.
    """
    out: list[SampleRecord] = []
    bar = _progress(len(items), desc=desc, enabled=progress)
    with open(sink_path, "a", encoding="utf-8") as sink:
        for batch in _batches(items, batch_size):
            records = _answer(batch, model)
            sink.write("".join(r.model_dump_json() + "\n" for r in records))
            sink.flush()
            os.fsync(sink.fileno())
            out += records
            bar.update(len(records))
            if on_batch is not None:
                on_batch(len(out), len(items))
    bar.close()
    return out


def _answer(batch: list[Item], model: Model) -> list[SampleRecord]:
    requests = [Request(it.prompt if it.prompt is not None else model.render_chat(it.messages), it.images)
                for it in batch]
    head = batch[0]
    logprobs: list[dict[str, float] | None]
    if head.score_letters:
        scored = model.score(requests, LETTERS)
        logprobs = list(scored)
        outputs = [max(lp, key=lp.__getitem__) for lp in scored]
    else:
        # Upstream cuts every answer at the next ASSISTANT: anyway, and scores only the first character of a
        # multiple-choice answer, so stopping there changes no score.
        logprobs = [None] * len(batch)
        outputs = model.generate(requests, max_new_tokens=head.max_new_tokens, stop=(ASSISTANT,),
                                 stop_when=first_char_decided if isinstance(head.question, MultipleChoice) else None)
    return [
        make_record(key=it.key, eval_set=it.eval_set, task=it.task, modality=it.modality, profile_id=it.profile_id,
                    question_index=it.question_index, question=question_text(it), reference=it.reference,
                    image_index=it.image_index, raw_output=out, letter_logprobs=lp)
        for it, out, lp in zip(batch, outputs, logprobs, strict=True)
    ]


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, *, desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="q", dynamic_ncols=True)
