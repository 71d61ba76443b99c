"""Evaluate a model held in memory with the project's runner (:mod:`probes.runner`).

The full command line is ``python -m probes.evaluate``; this module lets the
unlearning package check a model right after training (the demo build's
summary, the end-to-end test) without saving and reloading it: the model goes
through the backend's one seam (:meth:`backend.model.TransformersModel.from_objects`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from backend.model import TransformersModel
from benchmark.dataset import Benchmark
from benchmark.metrics import headline_metric
from benchmark.records import SampleRecord, aggregate
from benchmark.vocabulary import EvalSet, Modality, PromptStyle, Protocol, Task
from probes.runner import RunConfig, run


def evaluate(
    model: Any,
    processor: Any,
    benchmark: Benchmark,
    out_dir: Path,
    *,
    name: str,
    forget_ratio: int = 10,
    sets: Iterable[EvalSet] = (EvalSet.FORGET, EvalSet.RETAIN),
    protocol: Protocol = Protocol.OFFICIAL,
    seed: int = 0,
    limit: int | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[str, float]:
    """Run the benchmark on an in-memory model (raw LLaVA-style prompts); returns :func:`summarise`'s figures."""
    protocol = Protocol(protocol)
    config = RunConfig(
        name=name,
        model=name,
        data=benchmark.source,
        dataset_fingerprint=benchmark.fingerprint,
        forget_ratio=forget_ratio,
        protocol=protocol,
        protocol_version=protocol.version,
        sets=tuple(s for s in EvalSet if s in set(sets)),
        seed=seed,
        limit=limit,
        prompt_style=PromptStyle.LLAVA.value,
    )
    seam = TransformersModel.from_objects(model, processor, name=name, batch_size=batch_size)
    output = run(config, benchmark, seam, out_dir, batch_size=batch_size, progress=progress)
    return summarise(output.records)


def summarise(records: Iterable[SampleRecord]) -> dict[str, float]:
    """``{"forget/classification/image_text": 62.5, ...}``: each task's headline metric per set and modality."""
    return {
        f"{key.set.value}/{key.task.value}/{key.modality.value}": value.value
        for key, value in aggregate(records).items()
        if key.metric == headline_metric(key.task).name
    }


def format_summary(figures: dict[str, float]) -> str:
    """A small text table of :func:`summarise`'s figures (rows: set, columns: task x modality)."""
    cols = [(t, m) for t in Task for m in Modality]
    head = "set        " + "".join(f"{t.value[:5] + '/' + m.value:<17}" for t, m in cols)
    lines = [head]
    for s in EvalSet:
        cells = [figures.get(f"{s.value}/{t.value}/{m.value}") for t, m in cols]
        if all(c is None for c in cells):
            continue
        texts = [
            "-" if c is None else f"{c:.3f}" if t is Task.GENERATION else f"{c:.1f}"
            for c, (t, _) in zip(cells, cols, strict=True)
        ]
        lines.append(f"{s.value:<11}" + "".join(f"{x:<17}" for x in texts))
    return "\n".join(lines)
