from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from backend.cache import ModelCache, load_pair
from backend.generation import GenerationRequest, generate_batch
from backend.loading import LoadedModel, ModelNotFoundError, load_model
from backend.registry import ModelSpec, Registry

PROMPT = [GenerationRequest("USER: Where was Wren Quintero born?\nASSISTANT:")]


class CountingLoader:
    """The real loader, counting calls and slowed down so that concurrent requests overlap."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[str] = []
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self, spec: ModelSpec, **kwargs: Any) -> LoadedModel:
        with self._lock:
            self.calls.append(spec.name)
        time.sleep(self.delay)
        return load_model(spec, **kwargs)


def test_concurrent_requests_load_once(registry: Registry, base_spec: ModelSpec) -> None:
    loader = CountingLoader(delay=0.3)
    cache = ModelCache(10**9, registry=registry, loader=loader)
    results: list[LoadedModel] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(cache.get(base_spec, quantize="none", device="cpu"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 8
    assert loader.calls == ["tiny-base"]
    assert all(r is results[0] for r in results)
    stats = cache.stats()
    assert (stats.loads, stats.hits, stats.models) == (1, 7, ("tiny-base",))
    # a different quantization is a different entry
    assert cache.get(base_spec, quantize="4bit", device="cpu") is not results[0]
    assert loader.calls == ["tiny-base", "tiny-base"]


def test_failed_load_reaches_every_waiter_and_is_not_cached(tmp_path: Path) -> None:
    loader = CountingLoader(delay=0.2)
    cache = ModelCache(10**9, loader=loader)
    ghost = ModelSpec(name="ghost", path=str(tmp_path / "ghost"))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            cache.get(ghost, device="cpu")
        except ModelNotFoundError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(errors) == 4 and loader.calls == ["ghost"]
    with pytest.raises(ModelNotFoundError):
        cache.get(ghost, device="cpu")
    assert loader.calls == ["ghost", "ghost"]


def test_budget_evicts_least_recently_used(registry: Registry, base_spec: ModelSpec) -> None:
    narrow = registry.get("narrow")
    loader = CountingLoader()
    base_bytes = load_model(base_spec, quantize="none", device="cpu", registry=registry).info.footprint_bytes
    narrow_bytes = load_model(narrow, quantize="none", device="cpu", registry=registry).info.footprint_bytes
    budget = base_bytes + narrow_bytes + 10_000  # room for these two, not for a third
    cache = ModelCache(budget, registry=registry, loader=loader)
    first = cache.get(base_spec, quantize="none", device="cpu")
    cache.get(narrow, quantize="4bit", device="cpu")  # small: both fit
    assert cache.stats().models == ("tiny-base", "narrow")
    cache.get(base_spec, quantize="none", device="cpu")  # tiny-base is now the most recently used
    cache.get(narrow, quantize="none", device="cpu")  # over budget: evicts the LRU, the 4-bit narrow
    stats = cache.stats()
    assert stats.models == ("tiny-base", "narrow") and stats.evictions == 1
    assert stats.used_bytes <= budget
    cache.get(base_spec, quantize="4bit", device="cpu")
    assert cache.stats().evictions >= 2 and cache.stats().used_bytes <= budget
    # an evicted model still works for whoever holds it
    assert generate_batch(first, PROMPT, max_new_tokens=3)
    held = len(cache.stats().models)
    assert held >= 1 and cache.evict() == held
    assert cache.stats().models == () and cache.stats().used_bytes == 0


def test_adapter_pair_shares_one_base(registry: Registry, base_spec: ModelSpec, adapter_spec: ModelSpec) -> None:
    loader = CountingLoader()
    cache = ModelCache(10**9, registry=registry, loader=loader)
    pair = cache.get_pair(base_spec, adapter_spec, quantize="none", device="cpu")
    assert pair.shared_base and loader.calls == ["tiny-adapter"]
    assert pair.left.model is pair.right.model
    assert (pair.left.spec.name, pair.right.spec.name) == ("tiny-base", "tiny-adapter")
    # one copy of the base: the pair costs the base plus the LoRA weights only
    separate = load_pair(base_spec, registry.get("narrow"), registry=registry, quantize="none", device="cpu")
    assert not separate.shared_base
    alone = load_model(base_spec, quantize="none", device="cpu", registry=registry)
    lora_bytes = pair.right.info.footprint_bytes - alone.info.footprint_bytes
    assert 0 < lora_bytes < 0.1 * alone.info.footprint_bytes
    assert pair.footprint_bytes == alone.info.footprint_bytes + lora_bytes
    # each side answers as itself, and as the separately loaded models do
    assert generate_batch(pair.left, PROMPT, max_new_tokens=8) == generate_batch(alone, PROMPT, max_new_tokens=8)
    adapter_alone = load_model(adapter_spec, quantize="none", device="cpu", registry=registry)
    assert generate_batch(pair.right, PROMPT, max_new_tokens=8) == generate_batch(
        adapter_alone, PROMPT, max_new_tokens=8
    )
    # asking for the base alone is served by the cached adapter model's base view
    base = cache.get(base_spec, quantize="none", device="cpu")
    assert base.model is pair.right.model and not base.adapter_enabled and loader.calls == ["tiny-adapter"]
    swapped = cache.get_pair(adapter_spec, base_spec, quantize="none", device="cpu")
    assert swapped.shared_base and swapped.left.spec.name == "tiny-adapter" and swapped.right.spec.name == "tiny-base"


def test_pair_views_are_safe_to_use_from_two_threads(
    registry: Registry, base_spec: ModelSpec, adapter_spec: ModelSpec
) -> None:
    pair = load_pair(base_spec, adapter_spec, registry=registry, quantize="none", device="cpu")
    expected = {
        "left": generate_batch(pair.left, PROMPT, max_new_tokens=6),
        "right": generate_batch(pair.right, PROMPT, max_new_tokens=6),
    }
    assert expected["left"] != expected["right"]
    seen: dict[str, list[list[str]]] = {"left": [], "right": []}

    def run(side: str) -> None:
        view = getattr(pair, side)
        for _ in range(4):
            seen[side].append(generate_batch(view, PROMPT, max_new_tokens=6))

    threads = [threading.Thread(target=run, args=(side,)) for side in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seen["left"] == [expected["left"]] * 4 and seen["right"] == [expected["right"]] * 4


def test_adapter_needs_a_registry() -> None:
    cache = ModelCache(10**9)
    with pytest.raises(ValueError, match="needs a registry"):
        cache.get(ModelSpec(name="a", path="x", kind="adapter", base="b"))
    with pytest.raises(ValueError, match="budget_bytes must be positive"):
        ModelCache(0)
