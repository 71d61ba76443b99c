"""What each speed lever of our runner gives: the same run with one lever switched off at a time.

Runs :func:`probes.runner.run` on one model (default ``demo-base``) and one
official-protocol plan (forget 10 %) with every lever on, then with each lever
switched off (by replacing one function of ``backend.generation`` or
``backend.prefix_attention`` in this process only), ``--repeats`` times each,
interleaved (so that a slow minute of the machine hits every configuration
alike), and prints the median wall and CPU seconds of each configuration and
what switching the lever off costs. Every configuration must give the same
parsed answers as all levers on (greedy; exits 1 otherwise). Levers:

- ``shared prefix``: a batch's shared few-shot prefix computed once
  (off: every row prefills its whole prompt);
- ``cascade attention``: that prefix held once and read once per generated
  token (off: copied into every row of the cache);
- ``growing cache``: each new token written into spare room of the key/value
  cache (off: transformers' cache, concatenated at every token);
- ``pixel cache``: each distinct image preprocessed once (off: the image
  processor runs on every image of every prompt);
- ``stop-string check``: rows decoded only after a token that can end
  ``ASSISTANT:`` (off: every row decoded at every step).

Batching itself is what ``bench/eval_throughput.py`` measures against
upstream's one-question-at-a-time loop. The background import of the scoring
libraries is not switched here: an import happens once per process. Not a test:
run it by hand::

    python bench/eval_levers.py [--model demo-base] [--repeats 3] [--batch-size 64] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _levers() -> dict[str, Callable[[], list[tuple[Any, str, Any]]]]:
    """Each lever's switch-off: the (module, attribute, replacement) patches."""
    import backend.generation as generation
    import backend.prefix_attention as prefix_attention

    return {
        "shared prefix": lambda: [(generation, "_shared_prefix", lambda *a, **k: None)],
        "cascade attention": lambda: [(prefix_attention, "supported", lambda model: False)],
        "growing cache": lambda: [(generation, "_growing_cache", lambda: None)],
        "pixel cache": lambda: [(generation, "cached_processor", lambda processor: processor)],
        "stop-string check": lambda: [(generation, "_closing_tokens",
                                       lambda tokenizer, stops: frozenset(range(len(tokenizer))))],
    }


def main() -> None:
    """Run every configuration ``--repeats`` times and print the medians as JSON."""
    p = argparse.ArgumentParser(prog="python bench/eval_levers.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="demo-base", help="registry name, folder or Hub id (default: %(default)s)")
    p.add_argument("--data", default="demo", help="benchmark source (default: %(default)s)")
    p.add_argument("--forget-ratio", type=int, default=10, help="forget split in percent (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="runs per configuration (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="questions per batch (default: %(default)s)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (default: 0, torch's own: one per core; 1 when other jobs share it)")
    args = p.parse_args()

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    from benchmark.reader import load_benchmark
    from benchmark.vocabulary import EvalSet, Protocol
    from probes.models import load_for_evaluation, prompt_style
    from probes.runner import RunConfig, run

    bench = load_benchmark(args.data)
    model, _ = load_for_evaluation(args.model, batch_size=args.batch_size)
    cfg = RunConfig(name="levers", model=args.model, data=args.data, dataset_fingerprint=bench.fingerprint,
                    forget_ratio=args.forget_ratio, protocol=Protocol.OFFICIAL,
                    protocol_version=Protocol.OFFICIAL.version, sets=tuple(EvalSet), seed=0,
                    prompt_style=prompt_style(model.spec).value)
    levers = _levers()
    configs = ["all on", *levers]
    wall: dict[str, list[float]] = {c: [] for c in configs}
    cpu: dict[str, list[float]] = {c: [] for c in configs}
    answers: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        run(cfg, bench, model, Path(tmp) / "warm-up", batch_size=args.batch_size, progress=False)  # imports, caches
        for repeat in range(args.repeats):
            for name in configs:
                patches = levers[name]() if name in levers else []
                saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in patches]
                for obj, attr, value in patches:
                    setattr(obj, attr, value)
                try:
                    c0, t0 = time.process_time(), time.perf_counter()
                    out = run(cfg, bench, model, Path(tmp) / f"{name}-{repeat}", batch_size=args.batch_size,
                              progress=False)
                    wall[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.process_time() - c0)
                finally:
                    for obj, attr, value in saved:
                        setattr(obj, attr, value)
                answers[name] = {r.key: r.answer for r in out.records}
    base_wall, base_cpu = statistics.median(wall["all on"]), statistics.median(cpu["all on"])
    rows = []
    for name in configs:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        differ = sum(1 for k, v in answers["all on"].items() if answers[name].get(k) != v)
        rows.append({"configuration": name if name == "all on" else f"without {name}",
                     "median_wall_s": round(w, 2), "median_cpu_s": round(c, 2),
                     "cost_of_switching_off_s": None if name == "all on" else round(w - base_wall, 2),
                     "cost_of_switching_off_cpu_s": None if name == "all on" else round(c - base_cpu, 2),
                     "runs_wall_s": [round(x, 2) for x in wall[name]], "answers_differing": differ})
    print(json.dumps({"model": args.model, "questions": len(answers["all on"]), "batch_size": args.batch_size,
                      "torch_threads": torch.get_num_threads(),
                      "repeats": args.repeats, "configurations": rows}, indent=2))
    if any(r["answers_differing"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
