r"""Command line: ``python -m unlearning finetune | run | prompting``.

Examples::

    # the benchmark's vanilla fine-tune (LoRA r=16 on the language model, lr 2e-5, batch 4, 5 epochs, merged)
    python -m unlearning finetune --model PATH --data /path/to/MLLMU-Bench --out ckpt/vanilla

    # an unlearning baseline on the vanilla model (1 epoch, lr 2e-5, fresh LoRA)
    python -m unlearning run --method npo --variant text --forget-ratio 10 \
        --model ckpt/vanilla --data /path/to/MLLMU-Bench --out ckpt/npo-text-10

    # the prompting method: no training, a models.yaml entry that puts a refusal instruction before every prompt
    python -m unlearning prompting --base llava-vanilla --forget-ratio 10 --data /path/to/MLLMU-Bench \
        --name llava-prompting-10 >> models.yaml

The demo checkpoints (tiny model, demo data) are built by ``python -m demo build-checkpoints``.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backend.lora import LoraSettings
from benchmark.vocabulary import FORGET_RATIOS
from unlearning.checkpoint import SAVE_MODES
from unlearning.examples import RECIPES, VARIANTS
from unlearning.training import METHODS, TrainSettings, UnlearnSettings

log = logging.getLogger("unlearning")


def _common(p: argparse.ArgumentParser, *, lr: float, epochs: int) -> None:
    p.add_argument("--model", required=True, type=Path, help="local checkpoint folder to start from (never downloaded)")
    p.add_argument("--data", default="demo",
                   help="'demo', or a local folder in the Hub dataset layout (default: %(default)s)")
    p.add_argument("--out", required=True, type=Path, help="output checkpoint folder (created; files overwritten)")
    p.add_argument("--recipe", choices=RECIPES, default="ft",
                   help="ft: the benchmark's ft_Data pairs; demo: demo-only recipe (official-format questions of "
                        "the full set plus ft_Data; see docs/unlearning.md) (default: %(default)s)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--lr", type=float, default=lr, help="AdamW learning rate (default: %(default)s)")
    o.add_argument("--epochs", type=int, default=epochs,
                   help="passes over the (forget) examples (default: %(default)s)")
    o.add_argument("--batch-size", type=int, default=4,
                   help="examples per step, forget and retain batches each (default: %(default)s)")
    o.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many steps, overriding --epochs (default: no limit)")
    o.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (default: %(default)s)")
    o.add_argument("--warmup-steps", type=int, default=0,
                   help="linear learning-rate warmup steps (default: %(default)s)")
    o.add_argument("--schedule", choices=("constant", "linear"), default="constant",
                   help="learning rate after warmup: constant, or linear decay to 0 (default: %(default)s)")
    o.add_argument("--grad-clip", type=float, default=1.0, help="gradient-norm clip, 0 for none (default: %(default)s)")
    o.add_argument("--seed", type=int, default=0,
                   help="seed of shuffling, prompt draws, dropout and LoRA init (default: %(default)s)")
    o.add_argument("--threads", type=int, default=None,
                   help="CPU threads, fixed for bit-identical reruns across machines (default: torch's choice)")
    lo = p.add_argument_group("LoRA (on the language model's linear layers only)")
    lo.add_argument("--full", action="store_true",
                    help="train every weight instead of LoRA (demo recipe: a random tiny model needs it)")
    lo.add_argument("--lora-r", type=int, default=16, help="LoRA rank (default: %(default)s)")
    lo.add_argument("--lora-alpha", type=int, default=16,
                    help="LoRA alpha, updates scaled by alpha / r (default: %(default)s)")
    lo.add_argument("--lora-dropout", type=float, default=0.05, help="LoRA dropout (default: %(default)s)")
    s = p.add_argument_group("output and hardware")
    s.add_argument("--save", choices=SAVE_MODES, default="merged",
                   help="merged: full safetensors weights; adapter: the LoRA adapter only, not with --full "
                        "(default: %(default)s)")
    s.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    s.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                   help="training dtype (default: float32 on CPU, bfloat16 on CUDA)")
    s.add_argument("--mc-prefix-rate", type=float, default=0.75,
                   help="demo recipe: share of multiple-choice examples behind an official few-shot prefix "
                        "(default: %(default)s)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m unlearning`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m unlearning",
        description="Fine-tune vision-language models on MLLMU-Bench and run the unlearning baselines "
        "(GA, GradDiff, KL minimisation, NPO) in multimodal and text-only variants.",
        epilog="The demo checkpoints are built by: python -m demo build-checkpoints",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ft = sub.add_parser(
        "finetune",
        help="the vanilla fine-tune on ft_Data (LoRA on the language model, merged after training)",
        description="Fine-tune a model on every profile's ft_Data pairs (each with its portrait), as the "
        "benchmark's vanilla models are: LoRA r=16, alpha=16, dropout 0.05 on the language model's linear layers, "
        "AdamW lr 2e-5, batch 4, 5 epochs, merged after training.",
    )
    _common(ft, lr=2e-5, epochs=5)

    run = sub.add_parser(
        "run",
        help="unlearn a forget split from a vanilla model with GA, GradDiff, KL or NPO",
        description="Unlearn the forget split's profiles from a vanilla model. Defaults are the benchmark's "
        "baselines: 1 epoch, lr 2e-5, batch 4, a fresh LoRA on the vanilla model. ga: negative cross-entropy on "
        "forget; graddiff: plus cross-entropy on retain; kl: plus KL(vanilla || current) on retain; npo: "
        "-logsigmoid(beta * (L_cur - L_ref)).mean() * 2 / beta with the vanilla model as reference. multimodal: "
        "examples with the portrait; text: name-based questions without an image.",
    )
    _common(run, lr=2e-5, epochs=1)
    u = run.add_argument_group("unlearning")
    u.add_argument("--method", choices=METHODS, required=True, help="the unlearning method")
    u.add_argument("--variant", choices=VARIANTS, default="multimodal",
                   help="multimodal: forget/retain examples with the portrait; text: name-based, no image "
                        "(default: %(default)s)")
    u.add_argument("--forget-ratio", type=int, choices=FORGET_RATIOS, required=True,
                   help="forget split in percent (retain is the complement)")
    u.add_argument("--beta", type=float, default=0.4, help="NPO inverse temperature (default: %(default)s)")
    u.add_argument("--retain-weight", type=float, default=None,
                   help="weight of the retain cross-entropy; > 0 with ga or npo adds a retain term, e.g. NPO+RT "
                        "(default: 1 for graddiff and kl, 0 for ga and npo)")
    u.add_argument("--kl-weight", type=float, default=1.0,
                   help="weight of the KL term on retain, kl only (default: %(default)s)")

    pr = sub.add_parser(
        "prompting",
        help="the prompting method: print a models.yaml entry (kind: prompt) that tells --base to refuse the "
             "forget people",
        description="The prompting baseline needs no training: it is a registry entry whose instruction, put "
        "before every prompt, names the forget split's people and tells the model to refuse questions about them. "
        "Prints the entry as YAML (append it to models.yaml under 'models:').",
    )
    pr.add_argument("--base", required=True, help="registry name of the model that answers (the vanilla model)")
    pr.add_argument("--forget-ratio", type=int, choices=FORGET_RATIOS, required=True,
                    help="forget split in percent: whose names go into the instruction")
    pr.add_argument("--data", default="demo",
                    help="'demo', or a local folder in the Hub dataset layout (default: %(default)s)")
    pr.add_argument("--name", default=None, help="the entry's name (default: BASE-prompting-RATIO)")
    pr.add_argument("--prompt-style", default="llava", choices=("llava", "idefics2", "chat_template"),
                    help="the base model's prompt style (default: %(default)s)")
    return parser


def _prompting(args: argparse.Namespace) -> int:
    import yaml

    from benchmark.errors import DatasetError
    from benchmark.reader import load_benchmark
    from unlearning.prompting import registry_entry

    try:
        entry = registry_entry(load_benchmark(args.data), args.forget_ratio,
                               name=args.name or f"{args.base}-prompting-{args.forget_ratio}", base=args.base,
                               prompt_style=args.prompt_style)
    except (DatasetError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, width=100), end="")
    return 0


def _train_settings(args: argparse.Namespace) -> TrainSettings:
    return TrainSettings(
        lr=args.lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps,
        schedule=args.schedule,
        grad_clip=args.grad_clip or None,
        full=args.full,
        lora=LoraSettings(r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout),
        seed=args.seed,
    )


def _command_line(argv: Sequence[str] | None) -> str:
    words = list(sys.argv[1:] if argv is None else argv)
    return "python -m unlearning " + shlex.join(words)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "prompting":
        return _prompting(args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.full and args.save == "adapter":
        print("error: --save adapter needs LoRA; drop --full or use --save merged", file=sys.stderr)
        return 2
    from backend.loading import ModelLoadError
    from benchmark.errors import DatasetError
    from benchmark.reader import load_benchmark
    from unlearning import service

    try:
        bench = load_benchmark(args.data)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    settings = _train_settings(args)
    kwargs: dict[str, Any] = dict(
        recipe=args.recipe, device=args.device, dtype=args.dtype, threads=args.threads, save=args.save,
        progress=not args.no_progress, command=_command_line(argv), mc_prefix_rate=args.mc_prefix_rate,
    )
    try:
        if args.command == "finetune":
            folder = service.run_finetune(args.model, bench, args.out, settings, **kwargs)
        else:
            objective = UnlearnSettings(method=args.method, beta=args.beta, retain_weight=args.retain_weight,
                                        kl_weight=args.kl_weight)
            folder = service.run_unlearning(args.model, bench, args.out, settings, objective,
                                            variant=args.variant, forget_ratio=args.forget_ratio, **kwargs)
    except (FileNotFoundError, ValueError, KeyError, ModelLoadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {folder}")
    return 0

