"""Shared fixtures: tiny real LLaVA models built once per session into temporary folders.

No transformers object is mocked: every test runs the real model code on
models made by ``demo.tiny`` (a few MB, built in about a second); ``tiny_dir`` and the corpus
are the root ``tests/conftest.py``'s.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backend.registry import ModelKind, ModelSpec, Registry, parse_registry

from ..conftest import CORPUS

HUB_REPO = "tiny-org/tiny-llava"
HUB_SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="session")
def narrow_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with a narrower language model (64 wide): adapters of tiny-base do not fit it."""
    from demo.tiny import TinyLlavaConfig, build_tiny_llava

    config = TinyLlavaConfig(text_hidden_size=64, text_heads=2, text_intermediate_size=128)
    return build_tiny_llava(CORPUS * 3, seed=5, config=config).save(tmp_path_factory.mktemp("narrow") / "narrow")


def make_adapter(base_dir: Path, out: Path, *, seed: int = 0) -> Path:
    """A LoRA adapter with random (non-zero) weights on the language model of ``base_dir``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(base_dir, use_safetensors=True)
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=r".*language_model.*\.(q_proj|v_proj|up_proj|down_proj)",
        init_lora_weights=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def adapter_dir(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random LoRA adapter trained 'on' tiny-base (its config records tiny-base's folder)."""
    return make_adapter(tiny_dir, tmp_path_factory.mktemp("adapter") / "tiny-adapter")


@pytest.fixture(scope="session")
def registry(tiny_dir: Path, adapter_dir: Path, narrow_dir: Path) -> Registry:
    """A registry with the tiny base, an adapter on it, and an unrelated narrow model."""
    return parse_registry(
        {
            "version": 1,
            "models": [
                {"name": "tiny-base", "path": str(tiny_dir)},
                {
                    "name": "tiny-adapter",
                    "path": str(adapter_dir),
                    "kind": "adapter",
                    "base": "tiny-base",
                    "method": "ga",
                },
                {"name": "narrow", "path": str(narrow_dir)},
            ],
        }
    )


@pytest.fixture(scope="session")
def base_spec(registry: Registry) -> ModelSpec:
    return registry.get("tiny-base")


@pytest.fixture(scope="session")
def adapter_spec(registry: Registry) -> ModelSpec:
    spec = registry.get("tiny-adapter")
    assert spec.kind is ModelKind.ADAPTER
    return spec


@pytest.fixture(scope="session")
def hub_cache(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face cache folder made by hand, holding tiny-base as ``tiny-org/tiny-llava`` at ``main``."""
    cache = tmp_path_factory.mktemp("hf_cache")
    repo = cache / f"models--{HUB_REPO.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(HUB_SHA)
    shutil.copytree(tiny_dir, repo / "snapshots" / HUB_SHA)
    return cache


@pytest.fixture
def offline_hub(hub_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point huggingface_hub at the hand-made cache, offline (as HF_HUB_CACHE and HF_HUB_OFFLINE=1 would)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hub_cache


@pytest.fixture(scope="session")
def fp32_model(base_spec: ModelSpec, registry: Registry):  # type: ignore[no-untyped-def]
    from backend.loading import load_model

    return load_model(base_spec, quantize="none", device="cpu", registry=registry)


@pytest.fixture(scope="session")
def nf4_model(base_spec: ModelSpec, registry: Registry):  # type: ignore[no-untyped-def]
    from backend.loading import load_model

    return load_model(base_spec, quantize="4bit", device="cpu", registry=registry)
