"""The command line on a tiny model: every method and variant runs, saves and documents itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from unlearning.cli import build_parser, main


def test_help_documents_every_flag():
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(sub) == {"finetune", "run", "prompting"}
    for name, p in sub.items():
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help"
    text = sub["run"].format_help()
    for flag in ("--method", "--variant", "--forget-ratio", "--beta", "--retain-weight", "--kl-weight", "--lr",
                 "--epochs", "--batch-size", "--lora-r", "--lora-alpha", "--lora-dropout", "--full", "--save",
                 "--seed"):
        assert flag in text
    assert "2e-05" in text and "0.4" in text  # the benchmark's defaults are shown


def test_module_entry_point_prints_help():
    out = subprocess.run([sys.executable, "-m", "unlearning", "run", "--help"], capture_output=True, text=True,
                         check=True)
    assert "ga,graddiff,kl,npo" in out.stdout.replace(" ", "").replace("{", "").replace("}", "")


def test_finetune_then_every_method_saves_a_loadable_checkpoint_with_a_card(tiny_dir, tmp_path, bench):
    from transformers import AutoModelForImageTextToText

    vanilla = tmp_path / "vanilla"
    assert main(["finetune", "--model", str(tiny_dir), "--out", str(vanilla), "--max-steps", "2",
                 "--batch-size", "2", "--threads", "1", "--no-progress"]) == 0
    assert (vanilla / "model.safetensors").is_file() and not (vanilla / "adapter_config.json").exists()
    assert (vanilla / "tokenizer.json").is_file() and (vanilla / "processor_config.json").is_file()
    card = (vanilla / "README.md").read_text()
    assert bench.fingerprint in card and "| method | Vanilla |" in card and "lora_r | 16" in card
    record = json.loads((vanilla / "unlearning.json").read_text())
    assert record["method"] == "vanilla" and record["training"]["steps"] == 2
    AutoModelForImageTextToText.from_pretrained(vanilla)

    for method, variant, save in (("ga", "multimodal", "merged"), ("graddiff", "text", "merged"),
                                  ("kl", "multimodal", "merged"), ("npo", "text", "adapter")):
        out = tmp_path / f"{method}-{variant}"
        assert main(["run", "--method", method, "--variant", variant, "--forget-ratio", "10", "--model",
                     str(vanilla), "--out", str(out), "--max-steps", "1", "--batch-size", "2", "--save", save,
                     "--threads", "1", "--no-progress"]) == 0
        weights = "adapter_model.safetensors" if save == "adapter" else "model.safetensors"
        assert (out / weights).is_file()
        record = json.loads((out / "unlearning.json").read_text())
        assert (record["method"], record["variant"], record["forget_ratio"]) == (method, variant, 10)
        assert record["dataset_fingerprint"] == bench.fingerprint
        assert record["hyperparameters"]["retain_weight"] == (1.0 if method in ("graddiff", "kl") else 0.0)
        if method == "npo":
            assert record["hyperparameters"]["beta"] == 0.4
            assert record["training"]["retain_examples"] == 0
        else:
            assert (record["training"]["retain_examples"] > 0) == (method != "ga")


@pytest.mark.parametrize("argv, message", [
    (["run", "--method", "ga", "--forget-ratio", "10", "--model", "nowhere", "--out", "x"], "not a model folder"),
    (["finetune", "--model", "m", "--out", "x", "--full", "--save", "adapter"], "needs LoRA"),
])
def test_errors_are_messages_not_tracebacks(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("method", "retain_weight", "title"), [
    ("npo", 0.0, "# NPO unlearning (multimodal)"),
    ("npo", 1.0, "# NPO+RT unlearning (multimodal)"),
    ("ga", 0.5, "# GA+RT unlearning (multimodal)"),
    ("graddiff", 1.0, "# GradDiff unlearning (multimodal)"),
])
def test_card_names_a_retain_term_added_to_ga_or_npo(method, retain_weight, title):
    from unlearning.checkpoint import ModelCard

    card = ModelCard(method=method, base_model="m", data="demo", dataset_fingerprint="f", recipe="ft",
                     variant="multimodal", forget_ratio=10, hyperparameters={"retain_weight": retain_weight})
    assert title in card.to_markdown().splitlines()
