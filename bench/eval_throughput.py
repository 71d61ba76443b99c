"""Throughput: our batched runner against upstream's algorithm, one question at a time, on the demo models.

For each model (default: ``demo-base`` and ``demo-vanilla``) both loops run the
same official-protocol plan (forget 10 %) on the same loaded model:

- **upstream's algorithm** (written with our own code, as the paper's
  ``eval.py`` runs it): batch 1; one ``processor(images=..., text=prompt)`` per
  question, images decoded per question; ``generate(max_new_tokens=50,
  do_sample=False)`` (Idefics2 text-only multiple choice: 5, see
  :func:`benchmark.protocols.official_token_limits`); decode prompt and
  continuation together, keep the text after the first ``ASSISTANT:``; parse
  it as upstream does (first character A-D for multiple choice, the text for
  cloze and generation) and score it as upstream does inside its loop
  (multiple choice: the letter; cloze: the substring rule; generation:
  ROUGE-1/2/L and BLEU);
- **ours**: :func:`probes.runner.run`, batched, writing its files to a
  temporary folder.

Printed per model: questions per second of each (the model is loaded once
and shared, and its load time is printed apart; the scoring libraries are
imported before either loop starts, as a process imports them once; each loop
first answers a few questions untimed, then starts with no image decoded or
preprocessed), the ratio,
the same in CPU seconds of this process (``time.process_time``: with one torch
thread it hardly moves when other jobs share the machine, while wall time can
double), per-question agreement of the parsed answers (the extracted letter or text;
every disagreement's key is printed), and where our run's time goes, measured
with ``time.perf_counter`` around the stages (wrappers installed by this script
only): model loading, planning, image decoding, encoding (tokenizer and image
processor), the shared few-shot prefix's forward pass, ``model.generate``,
answer extraction and scoring, and the rest of the runner (batching, decoding
outputs, records, file writes). Both loops run with ``--threads`` torch threads
(default: torch's own, one per core). Use ``--threads 1`` when other jobs share
the machine: the demo models are tiny, and with more threads than free cores
OpenMP waits dominate and timings swing 100-fold. Exits 1 when any parsed answer
disagrees. Not a test: run it by hand::

    python bench/eval_throughput.py [--models demo-base demo-vanilla] [--limit N] [--batch-size B] [--threads T]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ASSISTANT = "ASSISTANT:"
LETTERS = "ABCD"


class Stages:
    """Seconds spent per stage, accumulated by wrappers."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t0

        return timed


@contextmanager
def instrumented(stages: Stages, loaded: Any) -> Iterator[None]:
    """Time our runner's stages by wrapping the functions it calls (restored on exit)."""
    import backend.generation as generation
    import backend.model as model_mod
    import probes.runner as runner

    patches = [
        (model_mod, "decode_images", "image decoding"),
        (generation, "_encode", "encoding (tokenizer + image processor)"),
        (generation, "_with_shared_prefix", "shared prefix forward (once per batch)"),
        (runner, "make_record", "answer extraction + scoring"),
    ]
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in patches]
    for obj, attr, name in patches:
        setattr(obj, attr, stages.wrap(name, getattr(obj, attr)))
    hf = loaded.model
    hf.generate = stages.wrap("model.generate", hf.generate)
    try:
        yield
    finally:
        del hf.generate  # back to the class's method
        for obj, attr, fn in saved:
            setattr(obj, attr, fn)


def _cold_data() -> None:
    """Forget every decoded image and preprocessed pixel value (caches that live as long as the process)."""
    from backend import pixels
    from backend.model import _decode_image

    _decode_image.cache_clear()
    pixels._STORES.clear()


def upstream_loop(loaded: Any, items: list[Any], style: str) -> dict[str, str]:
    """Upstream's per-question algorithm; returns each question's parsed answer by item key."""
    import torch

    from backend.model import decode_images
    from benchmark.metrics import score
    from benchmark.protocols import MAX_NEW_TOKENS, official_token_limits
    from benchmark.vocabulary import Task

    limits = official_token_limits(style)
    processor, model = loaded.processor, loaded.model
    out: dict[str, str] = {}
    for it in items:
        images = decode_images(it.images) or None
        inputs = processor(images=images, text=it.prompt, return_tensors="pt").to(model.device)
        tokens = limits.get(f"{it.task.value}/{it.modality.value}", MAX_NEW_TOKENS)
        with torch.no_grad():
            ids = model.generate(**inputs, max_new_tokens=tokens, do_sample=False,
                                 pad_token_id=processor.tokenizer.pad_token_id)
        text = processor.decode(ids[0], skip_special_tokens=True)
        resp = text.split(ASSISTANT)[1].strip() if ASSISTANT in text else text.strip()
        if it.task is Task.CLASSIFICATION:
            out[it.key] = resp[0].upper() if resp and resp[0].upper() in LETTERS else ""
        else:
            out[it.key] = resp
        score(it.task, out[it.key], it.reference)  # upstream scores each answer inside its loop
    return out


def bench_model(name: str, args: argparse.Namespace, bench: Any) -> dict[str, Any]:
    """Load ``name``, run ours then upstream's loop on the same plan; return the comparison."""
    import torch

    from benchmark.protocols import plan
    from benchmark.vocabulary import EvalSet, Protocol
    from probes.models import load_for_evaluation, prompt_style
    from probes.runner import RunConfig, _limit, run

    stages = Stages()
    t0 = time.perf_counter()
    model, _ = load_for_evaluation(name, batch_size=args.batch_size)
    t_load = time.perf_counter() - t0
    loaded = model.loaded  # type: ignore[attr-defined]
    style = prompt_style(model.spec)
    cfg = RunConfig(name="bench", model=name, data=args.data, dataset_fingerprint=bench.fingerprint,
                    forget_ratio=args.forget_ratio, protocol=Protocol.OFFICIAL,
                    protocol_version=Protocol.OFFICIAL.version, sets=tuple(EvalSet), seed=0,
                    limit=args.limit, prompt_style=style.value)
    t0 = time.perf_counter()
    items = plan(_limit(bench, args.limit), args.forget_ratio, Protocol.OFFICIAL, seed=0, style=style)
    t_plan = time.perf_counter() - t0

    # Warm-up, timed by neither loop: each runs a few questions first (first calls set up torch's kernels and
    # the tokenizer's tables); then the per-image caches are emptied so that each timed loop starts cold on data.
    with tempfile.TemporaryDirectory() as tmp:
        run(cfg.model_copy(update={"name": "warm-up", "limit": 1}), bench, model, Path(tmp),
            batch_size=args.batch_size, progress=False)
    upstream_loop(loaded, items[:16], style.value)
    _cold_data()
    with tempfile.TemporaryDirectory() as tmp, instrumented(stages, loaded):
        c0 = time.process_time()
        t0 = time.perf_counter()
        # run() plans again inside; that is the "planning" share of its time.
        ours = run(cfg, bench, model, Path(tmp), batch_size=args.batch_size, progress=False)
        t_ours = time.perf_counter() - t0
        c_ours = time.process_time() - c0
    _cold_data()
    c0 = time.process_time()
    t0 = time.perf_counter()
    reference = upstream_loop(loaded, items, style.value)
    t_ref = time.perf_counter() - t0
    c_ref = time.process_time() - c0

    mine = {r.key: r.answer for r in ours.records}
    disagree = sorted(k for k in reference if mine.get(k) != reference[k])
    n = len(items)
    measured = dict(stages.seconds)
    measured["planning (inside run)"] = t_plan  # same plan, timed once outside
    rest = t_ours - sum(measured.values())
    breakdown = {
        "model loading (once, not in either loop)": round(t_load, 2),
        **{k: round(v, 2) for k, v in measured.items()},
        "rest of the runner (batching, records, files)": round(rest, 2),
    }
    return {
        "model": name, "questions": n, "batch_size": args.batch_size, "forget_ratio": args.forget_ratio,
        "torch_threads": torch.get_num_threads(),
        "upstream_loop_s": round(t_ref, 2), "ours_s": round(t_ours, 2),
        "upstream_loop_q_per_s": round(n / t_ref, 2), "ours_q_per_s": round(n / t_ours, 2),
        "ratio": round(t_ref / t_ours, 2),
        "upstream_loop_cpu_s": round(c_ref, 2), "ours_cpu_s": round(c_ours, 2),
        "cpu_ratio": round(c_ref / c_ours, 2),
        "ratio_with_load": round((t_ref + t_load) / (t_ours + t_load), 2),
        "answer_agreement": f"{n - len(disagree)}/{n} ({100 * (n - len(disagree)) / n:.1f} %)",
        "disagreements": disagree,
        "ours_breakdown_s": breakdown,
    }


def main() -> None:
    """Run both loops on every model and print the comparison as JSON."""
    p = argparse.ArgumentParser(
        prog="python bench/eval_throughput.py",
        description="Throughput: our batched runner against upstream's algorithm (one question at a time), on "
        "the same official-protocol plan and model, for each model. Prints questions per second, the ratio, "
        "per-question agreement of the parsed answers and where our time goes.",
    )
    p.add_argument("--models", nargs="+", default=["demo-base", "demo-vanilla"],
                   help="registry names, local checkpoint folders or Hub ids (default: %(default)s)")
    p.add_argument("--data", default="demo",
                   help="'demo', a local folder in the Hub layout, or a Hub dataset id (default: %(default)s)")
    p.add_argument("--forget-ratio", type=int, default=10, help="forget split in percent (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="profiles per set (default: all)")
    p.add_argument("--batch-size", type=int, default=16,
                   help="questions per forward pass of our runner (default: %(default)s)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads for both loops (default: 0, torch's own: one per core). Use 1 when other "
                   "jobs share the machine: the demo models are tiny, and with more threads than free cores OpenMP "
                   "waits dominate and timings swing 100-fold")
    args = p.parse_args()
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}", file=sys.stderr)

    from benchmark.metrics import warm
    from benchmark.reader import load_benchmark

    warm()  # the scoring libraries, imported once per process: before either loop

    bench = load_benchmark(args.data)
    results = [bench_model(name, args, bench) for name in args.models]
    print(json.dumps(results, indent=2))
    if any(r["disagreements"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
