"""Throughput: our batched runner against an upstream-style one-question-at-a-time loop.

Both run the same official-protocol plan on the same model. The baseline does
what upstream ``eval.py`` does for every question: process one prompt with its
images, ``generate(max_new_tokens=50, do_sample=False)``, decode prompt and
continuation together and keep the text after the first ``ASSISTANT:``, then
score it with upstream's rules (first character for multiple choice, substring
for cloze, ROUGE/BLEU for generation).

Prints questions per second for both, the speed-up, and the share of
questions whose scores agree. Not a test: run it by hand::

    python bench/eval_throughput.py --model demo-vanilla --limit 4
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.model import decode_images  # noqa: E402
from benchmark.protocols import plan  # noqa: E402
from benchmark.reader import load_benchmark  # noqa: E402
from benchmark.vocabulary import EvalSet, Protocol, Task  # noqa: E402
from probes.models import load_for_evaluation, prompt_style  # noqa: E402
from probes.runner import RunConfig, _limit, run  # noqa: E402


def upstream_loop(loaded, items) -> dict[str, dict[str, float]]:
    """Upstream's per-question loop; returns per-question scores by item key."""
    import torch
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    processor, model = loaded.processor, loaded.model
    out = {}
    for it in items:
        images = decode_images(it.images) or None
        inputs = processor(images=images, text=it.prompt, return_tensors="pt").to(model.device)
        with torch.no_grad():
            ids = model.generate(**inputs, max_new_tokens=50, do_sample=False,
                                 pad_token_id=processor.tokenizer.pad_token_id)
        text = processor.decode(ids[0], skip_special_tokens=True)
        resp = text.split("ASSISTANT:")[1].strip() if "ASSISTANT:" in text else text.strip()
        if it.task is Task.CLASSIFICATION:
            pred = resp[0].upper() if resp and resp[0].upper() in "ABCD" else None
            out[it.key] = {"accuracy": float(pred == it.reference)}
        elif it.task is Task.CLOZE:
            out[it.key] = {"accuracy": float(it.reference.lower() in resp.lower())}
        else:
            r = scorer.score(it.reference, resp)
            bleu = sentence_bleu([it.reference.split()], resp.split(), smoothing_function=SmoothingFunction().method1)
            out[it.key] = {"rouge1": r["rouge1"].fmeasure, "rouge2": r["rouge2"].fmeasure,
                           "rougeL": r["rougeL"].fmeasure, "bleu": bleu}
    return out


def main() -> None:
    """Run both and print the comparison as JSON."""
    p = argparse.ArgumentParser(
        prog="python bench/eval_throughput.py",
        description="Throughput: our batched runner against upstream's loop of one question at a time, on the "
        "same official-protocol plan and model. Prints questions per second for both, the speed-up, and the "
        "share of questions whose scores agree.",
    )
    p.add_argument("--model", default="demo-base",
                   help="registry name, local checkpoint folder or Hub model id (default: %(default)s)")
    p.add_argument("--data", default="demo",
                   help="'demo', a local folder in the Hub layout, or a Hub dataset id (default: %(default)s)")
    p.add_argument("--forget-ratio", type=int, default=10, help="forget split in percent (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="profiles per set (default: all)")
    p.add_argument("--batch-size", type=int, default=16,
                   help="questions per forward pass of our runner (default: %(default)s)")
    args = p.parse_args()

    bench = load_benchmark(args.data)
    model, _ = load_for_evaluation(args.model, batch_size=args.batch_size)
    style = prompt_style(model.spec)
    cfg = RunConfig(name="bench", model=args.model, data=args.data, dataset_fingerprint=bench.fingerprint,
                    forget_ratio=args.forget_ratio, protocol=Protocol.OFFICIAL,
                    protocol_version=Protocol.OFFICIAL.version, sets=tuple(EvalSet), seed=0,
                    limit=args.limit, prompt_style=style.value)
    items = plan(_limit(bench, args.limit), args.forget_ratio, Protocol.OFFICIAL, seed=0, style=style)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ours = run(cfg, bench, model, Path(tmp), batch_size=args.batch_size, progress=False)
        t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = upstream_loop(model.loaded, items)  # type: ignore[attr-defined]
    t_base = time.perf_counter() - t0

    agree = sum(
        all(abs(r.scores[k] - base[r.key][k]) < 1e-9 for k in r.scores) for r in ours.records
    )
    n = len(items)
    print(json.dumps({
        "model": args.model, "questions": n, "batch_size": args.batch_size,
        "ours_q_per_s": round(n / t_ours, 2), "upstream_loop_q_per_s": round(n / t_base, 2),
        "speedup": round(t_base / t_ours, 2), "score_agreement": round(agree / n, 4),
    }, indent=2))


if __name__ == "__main__":
    main()
