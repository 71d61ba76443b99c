"""A thread-safe LRU cache of loaded models with a memory budget, model pairs, and :func:`open_model`.

The app serves several users and the evaluation runner from one process, so:

- concurrent requests for the same model load it once (the others wait for it);
- when the models held exceed the budget, the least recently used ones are
  dropped and their memory freed (``del``, ``gc.collect()``, and
  ``torch.cuda.empty_cache()`` on CUDA); a caller still holding a dropped model
  keeps a working reference until it lets go;
- a base model and a LoRA adapter on it share one copy of the base weights:
  asking for the base while the adapter model is cached returns the adapter
  model's base view (adapter disabled), and :meth:`ModelCache.get_pair`
  serves a base-versus-adapter comparison from a single load.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backend.fakes import FakeModel
from backend.loading import LoadedModel, ModelLoadError, ModelOutOfMemoryError, Quantize, load_model, pick_device
from backend.model import Model, PromptedModel, TransformersModel
from backend.registry import ModelKind, ModelSpec, Registry

logger = logging.getLogger(__name__)

Loader = Callable[..., LoadedModel]
"""Signature of :func:`backend.loading.load_model` (injectable to count or wrap loads)."""


@dataclass(frozen=True)
class CacheKey:
    """What makes two loads the same: the weights, their base, and how they are loaded."""

    spec: ModelSpec
    """The entry loaded."""
    base: ModelSpec | None
    """The base entry, for adapters."""
    quantize: Quantize
    """Requested quantization."""
    device: str
    """Resolved device."""


@dataclass(frozen=True)
class CacheStats:
    """Counters of a cache, for tests and the UI."""

    loads: int
    """Models loaded (cache misses that loaded)."""
    hits: int
    """Requests served from the cache (including base views of cached adapters)."""
    evictions: int
    """Models dropped to respect the budget."""
    used_bytes: int
    """Footprint of the models held."""
    budget_bytes: int
    """The memory budget."""
    models: tuple[str, ...]
    """Names of the models held, least recently used first."""


@dataclass(frozen=True)
class ModelPair:
    """Two models to compare side by side, e.g. a base and its unlearned adapter."""

    left: LoadedModel
    """The first model (usually the base or vanilla model)."""
    right: LoadedModel
    """The second model (usually the unlearned one)."""
    shared_base: bool
    """True when one copy of the base weights serves both (one side is an adapter on the other)."""

    @property
    def footprint_bytes(self) -> int:
        """Memory the pair holds: counted once when the weights are shared."""
        if self.shared_base:
            return max(self.left.info.footprint_bytes, self.right.info.footprint_bytes)
        return self.left.info.footprint_bytes + self.right.info.footprint_bytes


@dataclass
class _Pending:
    event: threading.Event = field(default_factory=threading.Event)
    result: LoadedModel | None = None
    error: BaseException | None = None


def free_memory() -> None:
    """Collect garbage and return cached CUDA memory to the driver."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def _pair_of(left: ModelSpec, right: ModelSpec) -> tuple[ModelSpec, bool] | None:
    """The adapter spec and whether it is on the right, when one side is an adapter on the other."""
    if right.kind is ModelKind.ADAPTER and right.base == left.name:
        return right, True
    if left.kind is ModelKind.ADAPTER and left.base == right.name:
        return left, False
    return None


class ModelCache:
    """Loaded models, least recently used first, within a memory budget.

    Args:
        budget_bytes: Most bytes of model footprint to keep; a model estimated larger than this is refused before
            loading (:func:`backend.loading.estimate_load_bytes`).
        registry: Resolves adapters' bases and relative paths.
        loader: The loading function (default :func:`backend.loading.load_model`).
        cpu_limit_bytes: On a CPU, refuse models estimated larger than this (too slow to answer without a GPU).
    """

    def __init__(self, budget_bytes: int, *, registry: Registry | None = None, loader: Loader = load_model,
                 cpu_limit_bytes: int | None = None) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"budget_bytes must be positive, got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self.cpu_limit_bytes = cpu_limit_bytes
        self.registry = registry
        self._loader = loader
        self._lock = threading.Lock()
        self._entries: OrderedDict[CacheKey, LoadedModel] = OrderedDict()
        self._loading: dict[CacheKey, _Pending] = {}
        self._loads = 0
        self._hits = 0
        self._evictions = 0

    def _key(self, spec: ModelSpec, quantize: Quantize, device: str | None) -> CacheKey:
        base = None
        if spec.kind is ModelKind.ADAPTER:
            if self.registry is None:
                raise ValueError(f"model {spec.name!r} is an adapter: the cache needs a registry to find its base")
            base = self.registry.get(spec.base or "")
        return CacheKey(spec, base, quantize, pick_device(device))

    def _used(self) -> int:
        return sum(m.info.footprint_bytes for m in self._entries.values())

    def stats(self) -> CacheStats:
        """Current counters and contents."""
        with self._lock:
            return CacheStats(
                loads=self._loads,
                hits=self._hits,
                evictions=self._evictions,
                used_bytes=self._used(),
                budget_bytes=self.budget_bytes,
                models=tuple(m.spec.name for m in self._entries.values()),
            )

    def _cached_base_view(self, key: CacheKey) -> LoadedModel | None:
        for other_key, loaded in self._entries.items():
            if other_key.base == key.spec and (other_key.quantize, other_key.device) == (key.quantize, key.device):
                self._entries.move_to_end(other_key)
                return loaded.base_view()
        return None

    def get(self, spec: ModelSpec, *, quantize: Quantize = "auto", device: str | None = None) -> LoadedModel:
        """The loaded model for ``spec``, loading it (once, even under concurrency) if needed.

        Raises:
            Whatever :func:`backend.loading.load_model` raises; every waiting caller gets the same error.
        """
        key = self._key(spec, quantize, device)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self._hits += 1
                return self._entries[key]
            view = self._cached_base_view(key)
            if view is not None:
                self._hits += 1
                return view
            pending = self._loading.get(key)
            owner = pending is None
            if pending is None:
                pending = self._loading[key] = _Pending()
        if not owner:
            pending.event.wait()
            if pending.error is not None:
                raise pending.error
            assert pending.result is not None
            with self._lock:
                self._hits += 1
            return pending.result
        try:
            loaded = self._load(key)
        except BaseException as exc:
            pending.error = exc
            with self._lock:
                self._loading.pop(key, None)
            pending.event.set()
            raise
        with self._lock:
            self._loads += 1
            self._entries[key] = loaded
            self._loading.pop(key, None)
            dropped = self._evict(keep=key)
        pending.result = loaded
        pending.event.set()
        if dropped:
            del dropped
            free_memory()
        return loaded

    def _load(self, key: CacheKey) -> LoadedModel:
        # The budget is also each model's limit, checked before loading in the dtype it loads in (a float16
        # checkpoint that loads as float32 counts double): refused, not loaded and then killed for memory.
        kwargs: dict[str, Any] = {"quantize": key.quantize, "device": key.device, "registry": self.registry,
                                  "memory_limit_bytes": self.budget_bytes, "cpu_limit_bytes": self.cpu_limit_bytes}
        if key.base is not None:
            kwargs["base"] = key.base
        try:
            return self._loader(key.spec, **kwargs)
        except ModelOutOfMemoryError:
            with self._lock:
                if not self._entries:
                    raise
                dropped = list(self._entries.values())
                self._evictions += len(dropped)
                self._entries.clear()
            logger.warning(
                "out of memory loading %s: dropped %d cached model(s), retrying", key.spec.name, len(dropped)
            )
            del dropped
            free_memory()
            return self._loader(key.spec, **kwargs)

    def _evict(self, *, keep: CacheKey) -> list[LoadedModel]:
        dropped: list[LoadedModel] = []
        while self._used() > self.budget_bytes and len(self._entries) > 1:
            victim = next(k for k in self._entries if k != keep)
            dropped.append(self._entries.pop(victim))
            self._evictions += 1
            logger.info("model cache: evicted %s to stay within %d bytes", victim.spec.name, self.budget_bytes)
        if self._used() > self.budget_bytes:
            logger.warning(
                "model cache: %s alone (%d bytes) exceeds the budget of %d bytes; keeping it",
                keep.spec.name,
                self._used(),
                self.budget_bytes,
            )
        return dropped

    def evict(self, spec: ModelSpec | None = None) -> int:
        """Drop one model (every load of ``spec``) or, with no argument, all; returns how many were dropped."""
        with self._lock:
            keys = [k for k in self._entries if spec is None or k.spec == spec]
            dropped = [self._entries.pop(k) for k in keys]
            self._evictions += len(dropped)
        count = len(dropped)
        del dropped
        free_memory()
        return count

    def get_pair(
        self, left: ModelSpec, right: ModelSpec, *, quantize: Quantize = "auto", device: str | None = None
    ) -> ModelPair:
        """Two models for a side-by-side comparison, sharing base weights when one is an adapter on the other."""
        shared = _pair_of(left, right)
        if shared is not None:
            adapter_spec, adapter_on_right = shared
            adapter = self.get(adapter_spec, quantize=quantize, device=device)
            base = adapter.base_view()
            return ModelPair(base, adapter, True) if adapter_on_right else ModelPair(adapter, base, True)
        return ModelPair(
            self.get(left, quantize=quantize, device=device), self.get(right, quantize=quantize, device=device), False
        )

    def models(
        self, left: ModelSpec, right: ModelSpec, *, quantize: Quantize = "auto", device: str | None = None
    ) -> tuple[Model, Model]:
        """Two models through the seam for a side-by-side comparison (:meth:`get_pair` for real weights).

        A ``fake`` entry needs no memory and is made on the spot; real ones come from the cache.
        """
        prompted = [spec if spec.kind is ModelKind.PROMPT else None for spec in (left, right)]
        if any(prompted):
            if self.registry is None:
                raise ValueError("a prompt entry answers through its base: the cache needs a registry to find it")
            inner = [self.registry.get(p.base or "") if p is not None else s for p, s in zip(prompted, (left, right),
                                                                                             strict=True)]
            answering = self.models(inner[0], inner[1], quantize=quantize, device=device)
            return (
                PromptedModel(left, answering[0]) if prompted[0] else answering[0],
                PromptedModel(right, answering[1]) if prompted[1] else answering[1],
            )
        fakes = [spec.kind is ModelKind.FAKE for spec in (left, right)]
        if not any(fakes):
            pair = self.get_pair(left, right, quantize=quantize, device=device)
            return TransformersModel(pair.left), TransformersModel(pair.right)
        return (
            FakeModel(left) if fakes[0] else TransformersModel(self.get(left, quantize=quantize, device=device)),
            FakeModel(right) if fakes[1] else TransformersModel(self.get(right, quantize=quantize, device=device)),
        )


def load_pair(
    left: ModelSpec,
    right: ModelSpec,
    *,
    registry: Registry | None = None,
    quantize: Quantize = "auto",
    device: str | None = None,
) -> ModelPair:
    """Load two models for comparison without a cache; one copy of the base when one is an adapter on the other."""
    shared = _pair_of(left, right)
    if shared is not None:
        adapter_spec, adapter_on_right = shared
        base_spec = left if adapter_on_right else right
        adapter = load_model(adapter_spec, quantize=quantize, device=device, registry=registry, base=base_spec)
        base = adapter.base_view()
        return ModelPair(base, adapter, True) if adapter_on_right else ModelPair(adapter, base, True)
    return ModelPair(
        load_model(left, quantize=quantize, device=device, registry=registry),
        load_model(right, quantize=quantize, device=device, registry=registry),
        False,
    )


def open_model(
    spec: ModelSpec,
    *,
    quantize: Quantize = "auto",
    device: str | None = None,
    registry: Registry | None = None,
    batch_size: int = 8,
) -> Model:
    """The model of a registry entry, uncached: a :class:`~backend.fakes.FakeModel` for ``kind: fake``, else weights.

    Raises:
        backend.loading.ModelLoadError: the weights cannot be found or loaded (the message says why).
    """
    if spec.kind is ModelKind.FAKE:
        return FakeModel(spec)
    if spec.kind is ModelKind.PROMPT:
        if registry is None:
            raise ModelLoadError(f"model {spec.name!r} answers through its base {spec.base!r}: pass registry=")
        base = open_model(registry.get(spec.base or ""), quantize=quantize, device=device, registry=registry,
                          batch_size=batch_size)
        return PromptedModel(spec, base)
    loaded = load_model(spec, quantize=quantize, device=pick_device(device), registry=registry)
    return TransformersModel(loaded, batch_size=batch_size)
