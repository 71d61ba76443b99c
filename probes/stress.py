r"""Command line: does the forgetting hold? Run the forget and retain sets under attacks, write a robustness file.

Example::

    python -m probes.stress --model demo-ga --reference demo-vanilla --data demo --forget-ratio 10 \\
        --out runs/ --quick

writes ``runs/NAME_robustness.json`` (:mod:`benchmark.robustness`; NAME is
``MODEL_forgetRATIO`` unless ``--name`` says otherwise) and keeps every
answer under ``runs/NAME.stress/`` (one samples file per attack, plus the
baseline and the reference run), so an interrupted run resumes where it
stopped when rerun with the same arguments.

The baseline (attack ``none``) is ``probes.evaluate`` itself on the forget and
retain sets (same planner, same runner, same files): its scores equal an
evaluation run's with ``--sets forget,retain`` and the same ``--limit``.
Question attacks re-ask only the questions they change and reuse the
baseline's answers for the rest; model attacks (precision, relearning) ask
again. Recovery is measured against ``--reference``, the model before
unlearning, on the same questions (see :mod:`benchmark.robustness`).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import getpass
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.model import Model
from benchmark.dataset import Benchmark, Profile
from benchmark.errors import DatasetError
from benchmark.files import atomic_write, dumps
from benchmark.protocols import Item
from benchmark.reader import DEMO, load_benchmark
from benchmark.records import SampleRecord, read_records
from benchmark.robustness import (
    AttackResult,
    RobustnessFile,
    RobustnessMetadata,
    estimates,
    retain_estimate,
    write_robustness,
)
from benchmark.vocabulary import FORGET_RATIOS, EvalSet, Protocol, Split, forget_split, retain_split
from probes.attacks import ATTACKS, Attack, AttackContext, Query, resolve, retain_primers
from probes.relearn import RelearnSettings, relearn, relearning_examples, split_people
from probes.runner import ResumeMismatch, RunConfig, answer_items, plan_run, run

log = logging.getLogger("probes.stress")

QUICK_LIMIT = 8
"""``--quick``: at most this many people per set (as ``probes.evaluate --limit 8``) and the quick attacks."""

SETS = (EvalSet.FORGET, EvalSet.RETAIN)
"""The sets a stress run asks: forgetting on one, utility on the other."""

Loader = Callable[[str, str], tuple[Model, Any]]
"""``(model, quantize) -> (model, ModelInfo)``: how the stress run loads a model (tests inject fakes)."""


@dataclass(frozen=True)
class StressConfig:
    """Everything that determines a stress run; recorded in ``NAME.stress/stress.json`` and checked on resume."""

    name: str
    model: str
    reference: str
    data: str
    forget_ratio: int
    protocol: str
    seed: int
    limit: int | None
    quick: bool
    attacks: tuple[str, ...]
    relearn: RelearnSettings
    prompt_style: str


@dataclass
class StressOutput:
    """What a finished stress run produced."""

    result: RobustnessFile
    path: Path
    seconds: dict[str, float]
    """Wall time per attack (the baseline and the reference included), in seconds."""


def _run_config(cfg: StressConfig, bench: Benchmark, model: str, name: str) -> RunConfig:
    return RunConfig(name=name, model=model, data=cfg.data, dataset_fingerprint=bench.fingerprint,
                     forget_ratio=cfg.forget_ratio, protocol=Protocol(cfg.protocol),
                     protocol_version=Protocol(cfg.protocol).version, sets=SETS, seed=cfg.seed, limit=cfg.limit,
                     prompt_style=cfg.prompt_style)


def _people(bench: Benchmark) -> dict[str, Profile]:
    return {p.id: p for split in (Split.FULL, Split.CELEBRITY) for p in bench.splits.get(split, ())}


def _rewritten(items: Sequence[Item], attack: Attack, people: dict[str, Profile], ctx: AttackContext) -> list[Item]:
    """The items ``attack`` changes, rewritten (same keys); the others are reused from the baseline."""
    assert attack.rewrite is not None
    out = []
    for it in items:
        if it.prompt is None:
            raise ValueError(f"attack {attack.name!r} rewrites official-protocol prompts; {it.key} has none")
        query = Query(it.prompt, it.images, it.task, it.modality, it.question, people[it.profile_id])
        new = attack.rewrite(query, ctx)
        if new is not None and (new.prompt, new.images) != (it.prompt, it.images):
            out.append(dataclasses.replace(it, prompt=new.prompt, images=new.images))
    return out


def _answers(items: Sequence[Item], model_of: Callable[[], Model], sink: Path, *, batch_size: int, progress: bool,
             desc: str) -> dict[str, SampleRecord]:
    """Answers to ``items``: those already in ``sink`` (a resumed run), the rest asked now (model loaded lazily)."""
    done = {r.key: r for r in read_records(sink)}
    todo = [it for it in items if it.key not in done]
    if todo:
        done.update({r.key: r for r in answer_items(todo, model_of(), sink, batch_size=batch_size,
                                                      progress=progress, desc=desc)})
    return {it.key: done[it.key] for it in items}


def stress(
    cfg: StressConfig,
    bench: Benchmark,
    out_dir: Path,
    load: Loader,
    *,
    batch_size: int = 8,
    progress: bool = True,
    submitter: str = "anonymous",
) -> StressOutput:
    """Run ``cfg``'s attacks on ``cfg.model`` and write ``NAME_robustness.json`` into ``out_dir``.

    Raises:
        ResumeMismatch: ``out_dir`` holds a stress run of the same name with other settings.
    """
    from probes.submission import build_submission

    work = Path(out_dir) / f"{cfg.name}.stress"
    work.mkdir(parents=True, exist_ok=True)
    record = dumps(dataclasses.asdict(cfg))
    config_path = work / "stress.json"
    if config_path.exists() and json.loads(config_path.read_text()) != json.loads(record):
        raise ResumeMismatch(f"{config_path} describes a different stress run of the same name; use another "
                             "--name or --out, or delete that folder to start over")
    atomic_write(config_path, record)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    model, info = load(cfg.model, "upstream")
    base_config = _run_config(cfg, bench, cfg.model, "none")
    baseline = run(base_config, bench, model, work, batch_size=batch_size, progress=progress).records
    seconds["none"] = time.perf_counter() - started
    started = time.perf_counter()
    reference = run(_run_config(cfg, bench, cfg.reference, "reference"), bench, load(cfg.reference, "upstream")[0],
                    work, batch_size=batch_size, progress=progress).records
    seconds["reference"] = time.perf_counter() - started

    items = plan_run(base_config, bench)
    people = _people(bench)
    retain_ids = [p.id for p in bench.split(retain_split(cfg.forget_ratio))]
    ctx = AttackContext(primers=retain_primers(bench, retain_ids, seed=cfg.seed))
    results: list[AttackResult] = []
    for attack in resolve(cfg.attacks):
        started = time.perf_counter()
        sink = work / f"{attack.name}.samples.jsonl"
        attacked: list[SampleRecord]
        if attack.name == "none":
            attacked, changed = baseline, 0
        elif attack.rewrite is not None:
            todo = _rewritten(items, attack, people, ctx)
            fresh = _answers(todo, lambda: model, sink, batch_size=batch_size, progress=progress, desc=attack.name)
            attacked = [fresh.get(r.key, r) for r in baseline]
            changed = len(todo)
        elif attack.quantize is not None:
            fresh = _answers(items, functools.partial(_first, load, cfg.model, attack.quantize), sink,
                             batch_size=batch_size, progress=progress, desc=attack.name)
            attacked, changed = [fresh[it.key] for it in items], len(items)
        else:
            forget_ids = [p.id for p in bench.split(forget_split(cfg.forget_ratio))]
            limited = {it.profile_id for it in items if it.eval_set is EvalSet.FORGET}
            trained_on, asked = split_people([i for i in forget_ids if i in limited], cfg.relearn.seed)
            todo = [it for it in items if it.eval_set is EvalSet.RETAIN or it.profile_id in asked]
            relearned = functools.partial(_relearned, load, cfg, bench, trained_on)
            fresh = _answers(todo, relearned, sink, batch_size=batch_size, progress=progress, desc=attack.name)
            attacked, changed = [fresh[it.key] for it in todo], len(todo)
        forget, unlearned_f, reference_f, recovery = estimates(attacked, baseline, reference)
        results.append(AttackResult(
            name=attack.name, family=attack.family, label=attack.label, description=attack.description,
            changed=changed, forget=forget, forget_unlearned=unlearned_f, forget_reference=reference_f,
            retain=retain_estimate(attacked), recovery=recovery,
        ))
        seconds[attack.name] = time.perf_counter() - started
        rec = "n/a" if recovery is None else f"{recovery.value:+.2f}"
        log.info("%-18s forget %5.1f (unlearned %5.1f, reference %5.1f)  recovery %s  %.1f s", attack.name,
                 forget.value, unlearned_f.value, reference_f.value, rec, seconds[attack.name])

    provenance = build_submission(base_config, baseline, info, submitter=submitter).provenance
    assert provenance is not None
    provenance = provenance.model_copy(update={"extra": {
        **provenance.extra, "reference": cfg.reference, "attacks": list(cfg.attacks),
        "relearn": dataclasses.asdict(cfg.relearn),
    }})  # no timings: the same answers always give the same file
    result = RobustnessFile(
        metadata=RobustnessMetadata(model_name=info.model_name, reference_name=cfg.reference,
                                    forget_ratio=cfg.forget_ratio, protocol=Protocol(cfg.protocol),
                                    protocol_version=Protocol(cfg.protocol).version, quick=cfg.quick,
                                    limit=cfg.limit),
        provenance=provenance,
        attacks=tuple(results),
    )
    path = write_robustness(result, Path(out_dir) / f"{cfg.name}_robustness.json")
    return StressOutput(result, path, seconds)


def _first(load: Loader, name: str, quantize: str) -> Model:
    return load(name, quantize)[0]


def _relearned(load: Loader, cfg: StressConfig, bench: Benchmark, people: Sequence[str]) -> Model:
    """A fresh copy of the model, fine-tuned on ``people``'s ft_Data pairs (:mod:`probes.relearn`)."""
    from backend.model import PromptedModel, TransformersModel

    model, _ = load(cfg.model, "none")  # trained in bfloat16 / float32, not upstream's float16
    loaded = getattr(model, "loaded", None)
    if loaded is None:
        raise ValueError(f"{cfg.model} has no weights to fine-tune; the relearning attack needs a real model")
    trained, losses = relearn(loaded.model, loaded.processor, relearning_examples(bench, people), cfg.relearn)
    log.info("relearn: %d steps on %s, loss %.3f -> %.3f", len(losses), ", ".join(people), losses[0], losses[-1])
    relearned = TransformersModel.from_objects(trained, loaded.processor, name=f"{cfg.model}-relearned")
    # The prompting method keeps its instruction: the attacker fine-tunes the weights behind it.
    return PromptedModel(model.spec, relearned) if isinstance(model, PromptedModel) else relearned


# --------------------------------------------------------------------------- command line


def _attack_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    try:
        resolve(names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m probes.stress`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m probes.stress",
        description="Run the forget and retain sets of an unlearned model under attacks that try to bring the "
        "forgotten knowledge back, and write NAME_robustness.json (scores, recovery and 95 % intervals per "
        "attack). An interrupted run resumes where it stopped when rerun with the same arguments.",
        epilog="Attacks: " + "; ".join(f"{a.name} ({a.label})" for a in ATTACKS.values())
        + ". Recovery = (attacked - unlearned) / (reference - unlearned) on the forget set.",
    )
    p.add_argument("--model", required=True,
                   help="the unlearned model: registry name, local checkpoint folder or Hub id")
    p.add_argument("--reference", default=None,
                   help="the model before unlearning, that recovery is measured against (default: the registry "
                        "entry's base, e.g. demo-vanilla for demo-ga)")
    p.add_argument("--models", type=Path, default=None, help="model registry file (default: models.yaml)")
    p.add_argument("--data", default=DEMO,
                   help="'demo', a local folder in the Hub layout, or a Hub dataset id (default: %(default)s)")
    p.add_argument("--data-revision", default=None, help="Hub revision of --data (default: main)")
    p.add_argument("--forget-ratio", type=int, choices=FORGET_RATIOS, default=None,
                   help="forget split in percent (default: the registry entry's)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--attacks", type=_attack_list, default=None,
                   help="comma-separated attacks to run (default: all of them; with --quick, the quick ones); "
                        "the no-attack baseline always runs")
    p.add_argument("--quick", action="store_true",
                   help=f"CPU-sized run: at most {QUICK_LIMIT} people per set and the quick attacks "
                        f"({', '.join(a.name for a in ATTACKS.values() if a.quick)})")
    p.add_argument("--limit", type=int, default=None,
                   help="at most N people per set, as probes.evaluate --limit (default: all; --quick: "
                        f"{QUICK_LIMIT})")
    p.add_argument("--relearn-steps", type=int, default=RelearnSettings.steps,
                   help="relearning attack: LoRA steps (default: %(default)s)")
    p.add_argument("--relearn-lr", type=float, default=RelearnSettings.lr,
                   help="relearning attack: learning rate (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=8, help="questions per forward pass (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the protocol's draws, the primers and the relearning split (default: %(default)s)")
    p.add_argument("--name", default=None, help="run name (default: MODEL_forgetRATIO)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice, one per core); on a shared CPU, 1 can be "
                        "many times faster for small models")
    p.add_argument("--list-attacks", action="store_true", help="list the attacks with what each does, and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    if "--list-attacks" in argv:
        for a in ATTACKS.values():
            print(f"{a.name:<18} {a.family.value:<10} {'quick' if a.quick else '     '}  {a.description}")
        return 0
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from probes.evaluate import set_threads

    set_threads(args.threads)
    from backend.loading import ModelLoadError
    from backend.registry import UnknownModelError, load_registry
    from probes.models import load_for_evaluation, prompt_style

    registry = load_registry(args.models)
    try:
        spec = registry.get(args.model)
    except UnknownModelError:
        spec = None
    reference = args.reference or (spec.base if spec is not None else None)
    ratio = args.forget_ratio or (spec.forget_ratio if spec is not None else None)
    if reference is None or ratio is None:
        missing = [f for f, v in (("--reference", reference), ("--forget-ratio", ratio)) if v is None]
        print(f"error: {args.model} is not a registry entry that names them; give {' and '.join(missing)}",
              file=sys.stderr)
        return 2

    def load(name: str, quantize: str) -> tuple[Model, Any]:
        return load_for_evaluation(name, registry=args.models, quantize=quantize,  # type: ignore[arg-type]
                                   device=args.device, batch_size=args.batch_size)

    try:
        bench = load_benchmark(args.data, revision=args.data_revision)
        style = prompt_style(spec).value if spec is not None else "llava"
    except (DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    limit = args.limit if args.limit is not None else (QUICK_LIMIT if args.quick else None)
    attacks = args.attacks if args.attacks is not None else tuple(a.name for a in resolve(None, quick=args.quick))
    from probes.evaluate import model_stem

    stem = model_stem(args.model)
    cfg = StressConfig(
        name=args.name or f"{stem}_forget{ratio}", model=args.model, reference=reference, data=str(args.data),
        forget_ratio=ratio, protocol=Protocol.OFFICIAL.value, seed=args.seed, limit=limit, quick=args.quick,
        attacks=attacks, relearn=RelearnSettings(steps=args.relearn_steps, lr=args.relearn_lr, seed=args.seed),
        prompt_style=style,
    )
    started = time.perf_counter()
    try:
        out = stress(cfg, bench, args.out, load, batch_size=args.batch_size, progress=not args.no_progress,
                     submitter=getpass.getuser() or "anonymous")
    except (ResumeMismatch, ModelLoadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{'attack':<18} {'forget':>7} {'retain':>7} {'recovery':>9}")
    for row in out.result.attacks:
        retain = f"{row.retain.value:7.1f}" if row.retain is not None else "      -"
        recovery = f"{row.recovery.value:+9.2f}" if row.recovery is not None else "      n/a"
        print(f"{row.name:<18} {row.forget.value:7.1f} {retain} {recovery}")
    print(f"wrote {out.path} in {time.perf_counter() - started:.1f} s")
    return 0



if __name__ == "__main__":
    sys.exit(main())
