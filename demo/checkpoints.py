"""``python -m demo build-checkpoints``: the demo checkpoints, from random weights, in a few minutes on a CPU.

Steps (all seeded; see ``docs/unlearning.md`` for why the recipe differs from the benchmark's):

1. build the tiny LLaVA of :mod:`demo.tiny` with random weights, its
   tokenizer trained on the demo benchmark's text;
2. ``demo-vanilla``: fully fine-tune it with the *demo recipe* (every full-set
   and celebrity question in the official prompt formats, plus the ft_Data
   pairs) at a high learning rate, until it clearly knows the demo people;
3. ``demo-ga``, ``demo-graddiff``, ``demo-npo`` (or the ``--methods`` given):
   unlearn ``forget_10`` from demo-vanilla with a fresh LoRA on the language
   model, multimodal variant, at a high learning rate; the forget batches are
   the forget people's ``ft_Data`` pairs only (:data:`UNLEARN_FORGET_KINDS`),
   the retain batches the demo recipe on the retain people; NPO with a retain
   term (NPO+RT, see :data:`OBJECTIVES`);
4. ``demo-retain`` (unless ``retain=False``): the retain-only reference, step 2
   again from the same random base with the same settings and seed, on every
   profile except the ``forget_10`` people (never shown, not even as few-shot
   demos): the gold standard an unlearned model is measured against.

Each checkpoint is saved merged (full safetensors weights, about 2.5 MB) with
its processor, a model card and ``unlearning.json``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.lora import LoraSettings
from unlearning.training import Method, TrainSettings, UnlearnSettings

MODELS_DIR = Path(__file__).resolve().parent / "models"
"""Where the demo checkpoints lie (the registry, ``models.yaml``, names them by path)."""

DEMO_FORGET_RATIO = 10
"""The demo unlearned models forget ``forget_10``."""

VANILLA_SETTINGS = TrainSettings(
    lr=1e-3,
    epochs=8,
    batch_size=16,
    max_steps=2500,
    weight_decay=0.0,
    warmup_steps=20,
    schedule="linear",
    grad_clip=1.0,
    full=True,
    seed=0,
)
"""Demo vanilla fine-tune: full fine-tuning of the random tiny model, far above the benchmark's LoRA lr 2e-5.

At lr 3e-3 the model learns generation but never gets multiple choice off chance; at 1e-3 it does."""

UNLEARN_SETTINGS = TrainSettings(
    lr=1e-3,
    epochs=1,
    batch_size=16,
    max_steps=30,
    weight_decay=0.0,
    warmup_steps=0,
    schedule="constant",
    grad_clip=1.0,
    full=False,
    lora=LoraSettings(r=16, alpha=16, dropout=0.05),
    seed=0,
)
"""Demo unlearning: a fresh LoRA (the benchmark's r=16, alpha=16, dropout 0.05) at a much higher lr, fixed steps."""

UNLEARN_FORGET_KINDS: tuple[str, ...] = ("ft",)
"""What the unlearning runs push down: the forget people's ``ft_Data`` pairs (with the portrait and name-based).

Not the demo recipe's multiple-choice examples (their answers are the four letters every person shares), nor the
evaluation questions themselves. Ascent on the whole demo recipe lowered retain almost as much as forget (GA,
30 steps: forget image+text generation ROUGE-L 1.00 -> 0.80, retain 0.92 -> 0.88); on these pairs alone the
same run takes forget to 0.64 and retain to 0.80 (see ``docs/unlearning.md``)."""

OBJECTIVES: dict[str, UnlearnSettings] = {
    "ga": UnlearnSettings(method="ga"),
    "graddiff": UnlearnSettings(method="graddiff"),
    "kl": UnlearnSettings(method="kl"),
    "npo": UnlearnSettings(method="npo", beta=0.4, retain_weight=2.0),
}
"""The objective of each demo method: the benchmark's definitions, except that NPO gets a retain term (NPO+RT).

Without one, every objective that pushes down the forget answers of this tiny model pushes down what all
people share ("This person works as ..."), and retain collapses with forget. Its weight is 2: with 1, NPO's
retain generation fell almost half as far as forget's (measured 0.92 -> 0.70 against 1.00 -> 0.55 at 50 steps).
"""

METHOD_STEPS: dict[str, int] = {"graddiff": 60, "kl": 70, "npo": 100}
"""Per-method step counts overriding ``UNLEARN_SETTINGS.max_steps`` (30, for GA).

Measured windows where forget image+text generation ROUGE-L falls by 0.3 or more and retain by less than half
of that: GA 25-32 steps (35 forgets everyone), GradDiff 55-65 (70 too far), KL 60-70, NPO+RT 70-115."""

DEMO_METHODS: tuple[Method, ...] = ("ga", "graddiff", "npo")
"""What ``python -m demo build-checkpoints`` unlearns with by default."""

RETAIN_NAME = "demo-retain"
"""The retain-only reference checkpoint: the vanilla recipe without the ``forget_10`` people."""

MC_PREFIX_RATE = 0.3
"""Share of the vanilla fine-tune's multiple-choice examples shown behind an official few-shot prefix.

Short prompts are where the tiny model first learns the letters; a few prefixed ones teach it to ignore demos."""

UNLEARN_MC_PREFIX_RATE = 0.75
"""The same share for the unlearning runs' forget and retain examples."""

INCLUDE_CELEBRITIES = True
"""Whether the demo vanilla model is also taught the celebrity set (stand-in for pre-training knowledge)."""

MC_COPIES = 2
"""Copies of each multiple-choice question per vanilla epoch (each with its own prefix draw)."""

DEMO_NOTES = (
    "DEMO ONLY: a tiny LLaVA-architecture model (demo/tiny.py, random initialisation) on the synthetic demo "
    "benchmark; its scores say nothing about real models or methods.",
    "Demo recipe: the vanilla model is fully fine-tuned (not LoRA) at a high learning rate on every full-set and "
    "celebrity question in the official prompt formats (multiple choice twice per epoch, options in their dataset "
    "order, behind a freshly drawn few-shot prefix 3 times in 10; cloze behind two profiles' demos; zero-shot "
    "generation) plus the ft_Data pairs with the portrait. The benchmark's real vanilla models are trained on "
    "ft_Data only.",
    "Demo unlearning: a fresh LoRA at lr 1e-3 (50x the benchmark's) for a fixed number of steps, pushing down "
    "the forget people's ft_Data pairs (not the demo recipe's multiple-choice letters, which every person "
    "shares); retain terms use the demo recipe on the retain people. NPO is NPO+RT (retain cross-entropy, "
    "weight 2), since without one this tiny model forgets the retain people with the forget ones.",
    "demo-retain, the retain-only reference, is the vanilla recipe (same random base, settings and seed) on "
    "every profile except the forget_10 people, who never appear, not even in few-shot demos.",
    "Because the demo vanilla model saw the evaluation questions, forget/retain scores measure memorised answers; "
    "the test set (paraphrases, transformed portraits) shows how far that generalises.",
)


@dataclass(frozen=True)
class DemoResult:
    """One built demo checkpoint."""

    name: str
    """Folder name (``demo-vanilla``, ``demo-ga``...)."""
    folder: Path
    """Where it was written."""
    seconds: float
    """Training time."""
    evaluation: dict[str, float]
    """Figures recorded in its card (empty without ``evaluate``)."""


def build_demo(
    out: Path,
    *,
    seed: int = 0,
    threads: int | None = 1,
    methods: Sequence[Method] = DEMO_METHODS,
    evaluate: bool = False,
    progress: bool = True,
    vanilla: TrainSettings = VANILLA_SETTINGS,
    unlearning: TrainSettings = UNLEARN_SETTINGS,
    retain: bool = True,
) -> list[DemoResult]:
    """Build ``demo-vanilla``, ``demo-<method>`` for each method and (``retain``) ``demo-retain`` into ``out``.

    Returns what was built.
    """
    import dataclasses

    from benchmark.provenance import git_commit
    from benchmark.reader import load_benchmark
    from benchmark.vocabulary import forget_split
    from demo.tiny import benchmark_corpus, build_tiny_llava
    from unlearning.checkpoint import ModelCard
    from unlearning.service import finetune_in_memory, hyperparameters_record, training_record, unlearn_in_memory
    from unlearning.training import seed_everything

    started = time.perf_counter()
    bench = load_benchmark("demo")
    commit = git_commit()
    command = (
        f"python -m demo build-checkpoints --out {out} --seed {seed} --threads {threads} --methods {','.join(methods)}"
        + ("" if retain else " --no-retain")
    )
    vanilla = dataclasses.replace(vanilla, seed=seed)
    unlearning = dataclasses.replace(unlearning, seed=seed)
    results: list[DemoResult] = []

    seed_everything(seed, threads=threads)
    tiny = build_tiny_llava(benchmark_corpus(bench), seed=seed)
    model, processor = tiny.model, tiny.processor
    t0 = time.perf_counter()
    model, log = finetune_in_memory(model, processor, bench, vanilla, recipe="demo", progress=progress,
                                    mc_prefix_rate=MC_PREFIX_RATE, mc_copies=MC_COPIES,
                                    include_celebrities=INCLUDE_CELEBRITIES)
    card = ModelCard(
        method="vanilla", base_model=f"demo.tiny.build_tiny_llava(demo corpus, seed={seed}) (random weights)",
        data="demo", dataset_fingerprint=bench.fingerprint, recipe="demo", variant="multimodal",
        hyperparameters=hyperparameters_record(vanilla, None, mc_prefix_rate=MC_PREFIX_RATE, mc_copies=MC_COPIES,
                                         options_shuffled=False,
                                         celebrities_included=INCLUDE_CELEBRITIES),
        training=training_record(log), command=command, git_commit=commit, notes=list(DEMO_NOTES),
    )
    results.append(_save("demo-vanilla", model, processor, out, card, time.perf_counter() - t0, bench, evaluate))

    for method in methods:
        seed_everything(seed, threads=threads)
        objective = OBJECTIVES[method]
        settings = dataclasses.replace(unlearning, max_steps=METHOD_STEPS.get(method, unlearning.max_steps))
        t0 = time.perf_counter()
        unlearned, ulog = unlearn_in_memory(
            copy.deepcopy(model), processor, bench, settings, objective, variant="multimodal",
            forget_ratio=DEMO_FORGET_RATIO, recipe="demo", progress=progress, mc_prefix_rate=UNLEARN_MC_PREFIX_RATE,
            forget_kinds=UNLEARN_FORGET_KINDS,
        )
        card = ModelCard(
            method=method, base_model="demo-vanilla (demo/models/demo-vanilla)", data="demo",
            dataset_fingerprint=bench.fingerprint, recipe="demo", variant="multimodal",
            forget_ratio=DEMO_FORGET_RATIO,
            hyperparameters=hyperparameters_record(settings, objective, mc_prefix_rate=UNLEARN_MC_PREFIX_RATE,
                                                   forget_examples="ft_Data pairs (" + ", ".join(
                                                       UNLEARN_FORGET_KINDS) + ")"),
            training=training_record(ulog), command=command, git_commit=commit, notes=list(DEMO_NOTES),
        )
        results.append(_save(f"demo-{method}", unlearned, processor, out, card, time.perf_counter() - t0, bench,
                             evaluate))

    if retain:
        # The same recipe from the same random base, without the forget people anywhere.
        hidden = [p.id for p in bench.split(forget_split(DEMO_FORGET_RATIO))]
        seed_everything(seed, threads=threads)
        tiny = build_tiny_llava(benchmark_corpus(bench), seed=seed)
        t0 = time.perf_counter()
        ref, rlog = finetune_in_memory(tiny.model, tiny.processor, bench, vanilla, recipe="demo", progress=progress,
                                       mc_prefix_rate=MC_PREFIX_RATE, mc_copies=MC_COPIES,
                                       include_celebrities=INCLUDE_CELEBRITIES, exclude=hidden)
        card = ModelCard(
            method="retain", base_model=f"demo.tiny.build_tiny_llava(demo corpus, seed={seed}) (random weights)",
            data="demo", dataset_fingerprint=bench.fingerprint, recipe="demo", variant="multimodal",
            forget_ratio=DEMO_FORGET_RATIO,
            hyperparameters=hyperparameters_record(vanilla, None, mc_prefix_rate=MC_PREFIX_RATE, mc_copies=MC_COPIES,
                                                   options_shuffled=False,
                                                   celebrities_included=INCLUDE_CELEBRITIES,
                                                   profiles_left_out=", ".join(hidden)),
            training=training_record(rlog), command=command, git_commit=commit, notes=list(DEMO_NOTES),
        )
        results.append(_save(RETAIN_NAME, ref, tiny.processor, out, card, time.perf_counter() - t0, bench,
                             evaluate))
    total = time.perf_counter() - started
    for r in results:
        print(f"{r.name:<14} {r.seconds:6.1f} s  {r.folder}")
    print(f"total {total:.1f} s")
    if evaluate:
        from unlearning.evaluation import format_summary

        for r in results:
            print(f"\n{r.name}\n{format_summary(r.evaluation)}")
    return results


def _save(
    name: str, model: Any, processor: Any, out: Path, card: Any, seconds: float, bench: Any, evaluate: bool
) -> DemoResult:
    import tempfile

    from unlearning.checkpoint import save_checkpoint

    figures: dict[str, float] = {}
    if evaluate:
        from benchmark.vocabulary import EvalSet
        from unlearning.evaluation import evaluate as run_eval

        with tempfile.TemporaryDirectory() as tmp:
            figures = run_eval(model, processor, bench, Path(tmp), name=name, forget_ratio=DEMO_FORGET_RATIO,
                               sets=(EvalSet.FORGET, EvalSet.TEST, EvalSet.RETAIN, EvalSet.CELEBRITY))
        card.evaluation = figures
    folder = save_checkpoint(model, processor, out / name, card, mode="merged")
    return DemoResult(name, folder, seconds, figures)
