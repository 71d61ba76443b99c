from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from demo.cli import main
from demo.tiny import IMAGE_TOKEN, TinyLlavaConfig, build_tiny_llava, train_tokenizer

from ..conftest import CORPUS, tiny_config


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_build_is_deterministic_and_seeded(tiny_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_llava(CORPUS * 3, seed=0, config=tiny_config()).save(tmp_path / "again")
    assert _digests(again) == _digests(tiny_dir)
    other = build_tiny_llava(CORPUS * 3, seed=1, config=tiny_config()).save(tmp_path / "other")
    assert _digests(other)["model.safetensors"] != _digests(tiny_dir)["model.safetensors"]
    assert _digests(other)["tokenizer.json"] == _digests(tiny_dir)["tokenizer.json"]


def test_saved_folder_is_safetensors_only_and_small(tiny_dir: Path) -> None:
    names = {p.name for p in tiny_dir.iterdir()}
    assert "model.safetensors" in names
    assert not any(n.endswith((".bin", ".pt", ".pth", ".pkl")) for n in names)
    assert sum(p.stat().st_size for p in tiny_dir.iterdir()) < 3_000_000
    meta = json.loads((tiny_dir / "tiny_build.json").read_text())
    assert meta["seed"] == 0 and meta["config"]["text_hidden_size"] == 128


def test_quantizable_linears_have_cpu_4bit_widths(tiny_dir: Path) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(tiny_dir, use_safetensors=True)
    linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n != "lm_head"}
    assert len(linears) > 20
    for name, layer in linears.items():
        assert layer.in_features % 64 == 0 and layer.out_features % 32 == 0, name


def test_processor_expands_image_token_and_has_chat_template(tiny_dir: Path) -> None:
    from PIL import Image
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_dir)
    tok = processor.tokenizer
    assert tok.pad_token == "<pad>" and tok.padding_side == "left"
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    enc = processor(
        text=["USER: <image>\nWho is this?\nASSISTANT:"], images=[Image.new("RGB", (40, 60))], return_tensors="pt"
    )
    assert int((enc["input_ids"] == image_id).sum()) == TinyLlavaConfig().image_seq_length == 16
    assert tuple(enc["pixel_values"].shape) == (1, 3, 32, 32)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Who is this?"}]}]
    rendered = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert rendered == "USER: <image>\nWho is this?\nASSISTANT:"


def test_tokenizer_is_byte_level_and_learns_corpus_words() -> None:
    tok = train_tokenizer(CORPUS * 3, vocab_size=400)
    ids = tok("Wren Quintero 😀 ünïcode", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "Wren Quintero 😀 ünïcode"
    assert tok.unk_token_id not in ids
    assert len(tok("Tidewater", add_special_tokens=False)["input_ids"]) < len("Tidewater")
    assert tok("x")["input_ids"][0] == tok.bos_token_id


def test_config_rejects_widths_bitsandbytes_cannot_quantize() -> None:
    with pytest.raises(ValueError, match="text_hidden_size must be a positive multiple of 64"):
        TinyLlavaConfig(text_hidden_size=96).check()
    with pytest.raises(ValueError, match="corpus"):
        train_tokenizer([""])


def test_cli_build_tiny_with_corpus_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS), encoding="utf-8")
    assert main(["build-tiny", "--out", str(tmp_path / "m"), "--seed", "3", "--corpus-file", str(corpus)]) == 0
    assert (tmp_path / "m" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "m" / "tiny_build.json").read_text())["seed"] == 3
    assert "wrote tiny LLaVA model" in capsys.readouterr().out


def test_committed_demo_base_is_what_build_tiny_makes(tmp_path: Path) -> None:
    """demo/models/demo-base must be rebuilt when the demo benchmark's text changes."""
    from demo.checkpoints import MODELS_DIR

    committed = MODELS_DIR / "demo-base"
    assert main(["build-tiny", "--out", str(tmp_path / "demo-base")]) == 0
    rebuilt, shipped = _digests(tmp_path / "demo-base"), _digests(committed)
    stale = sorted(name for name in rebuilt if rebuilt[name] != shipped.get(name))
    assert not stale, f"{stale} differ: run `python -m demo build-tiny --out demo/models/demo-base`"
