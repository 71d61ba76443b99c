"""Which models to run: registry entries or pasted Hub ids, validated, then loaded through the backend.

Used by the evaluation command line (:func:`load_for_evaluation`) and by the
live probe (:class:`ModelPool`, :func:`default_pair`). Models come back as the
backend's one seam, :class:`backend.model.Model`; a registry entry of kind
``fake`` is a model too, so tests and offline demos take the same path.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.vocabulary import PromptStyle
from probes.questions import ProbeInputError
from probes.submission import ModelInfo

if TYPE_CHECKING:
    from backend.cache import ModelCache
    from backend.loading import Quantize
    from backend.model import Model
    from backend.registry import ModelSpec, Registry

_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


def prompt_style(spec: ModelSpec) -> PromptStyle:
    """A registry entry's prompt style, or a ``ValueError`` naming the entry and the styles there are."""
    try:
        return PromptStyle(spec.prompt_style)
    except ValueError:
        known = ", ".join(s.value for s in PromptStyle)
        raise ValueError(f"model {spec.name!r}: prompt_style {spec.prompt_style!r} is not one of {known}") from None


def check_registry(registry: Registry) -> Registry:
    """``registry`` once every entry's prompt style is known (:func:`prompt_style` raises otherwise)."""
    for spec in registry.models:
        prompt_style(spec)
    return registry


def root_model(registry: Registry, spec: ModelSpec) -> str:
    """The model at the root of ``spec``'s ``base`` chain, as a Hub id or registry name.

    Vanilla and unlearned checkpoints of one base model share it, which is how
    the leaderboard groups them (e.g. ``demo-ga`` -> ``demo-vanilla`` -> ``demo-base``).
    """
    seen = {spec.name}
    while spec.base and spec.base not in seen:
        seen.add(spec.base)
        parent = registry.base_of(spec)
        if parent is None:
            return str(spec.base)
        spec = parent
    return str(spec.repo_id or spec.name)


def load_for_evaluation(
    model: str,
    *,
    revision: str | None = None,
    registry: Path | None = None,
    quantize: Quantize = "auto",
    device: str | None = None,
    batch_size: int = 8,
) -> tuple[Model, ModelInfo]:
    """Load ``model`` (a registry name, a local folder or a Hub id) and describe it for the submission.

    Raises:
        backend.loading.ModelLoadError: the model cannot be found or loaded; the message says why.
        ValueError: the registry entry's prompt style is unknown.
    """
    from backend.cache import open_model
    from backend.registry import ModelSpec, UnknownModelError, load_registry

    reg = load_registry(registry)
    try:
        spec = reg.get(model)
        if revision is not None:
            spec = spec.model_copy(update={"revision": revision})
    except UnknownModelError:
        spec = ModelSpec.adhoc(model, revision=revision)
    prompt_style(spec)
    loaded = open_model(spec, quantize=quantize, device=device, registry=reg, batch_size=batch_size)
    info = ModelInfo(
        model_name=spec.name,
        model_id=spec.source,
        model_revision=loaded.info.commit,
        hub_repo=spec.repo_id,
        base_model=root_model(reg, spec),
        method=spec.method or "none",
        unlearning_modality=None if spec.method and spec.method != "vanilla" else "none",
        quantization=loaded.info.quantization,
        dtype=loaded.info.dtype,
    )
    return loaded, info


# --------------------------------------------------------------------------- the probe's models


@dataclass(frozen=True)
class ModelChoice:
    """A model to probe: a registry entry, or a Hub repository at a revision (validated, not yet loaded)."""

    name: str
    """Registry name, or the Hub repository id for a custom model."""
    revision: str | None = None
    """Hub revision of a custom model."""
    custom: bool = False
    """True for a pasted Hub id outside the registry."""

    @property
    def label(self) -> str:
        """How the model is named in the UI."""
        return f"{self.name}@{self.revision}" if self.custom and self.revision else self.name


def custom_model(repo_id: str, revision: str | None) -> ModelChoice:
    """Validate a pasted Hub id and revision (format only; nothing is downloaded) into a :class:`ModelChoice`."""
    from backend.registry import repo_id_problem

    repo_id, revision = (repo_id or "").strip(), (revision or "").strip() or "main"
    problem = repo_id_problem(repo_id)
    if problem:
        raise ProbeInputError(problem)
    if not _REVISION.match(revision) or ".." in revision:
        raise ProbeInputError(f"{revision!r} is not a valid revision (a branch, tag or commit sha)")
    return ModelChoice(repo_id, revision, custom=True)


def default_pair(registry: Registry, left: str | None = None, right: str | None = None) -> tuple[str, str]:
    """The probe's default models: a vanilla model and an unlearned one made from it, read from ``method`` fields.

    Local entries (the demo models) are preferred, so a fresh CPU machine never starts on a 7B download;
    explicit ``left`` / ``right`` names win. Falls back to the first local entry on both sides.
    """
    models = list(registry.models)
    if not models:
        raise ProbeInputError("the model registry is empty")
    pool = [s for s in models if s.is_local] or models
    vanilla = next((s for s in pool if (s.method or "").lower() == "vanilla"), None)
    unlearned = [s for s in pool if s.method and s.method.lower() != "vanilla"]
    if vanilla is not None:
        children = [s for s in unlearned if s.base == vanilla.name]
        unlearned = children or unlearned
    first = vanilla or pool[0]
    second = unlearned[0] if unlearned else first
    return left or first.name, right or second.name


CPU_ONLY_REFUSAL = (
    "{model} is not offered here: this server has no GPU, and on a CPU a full-size model takes minutes per "
    "answer, so only the demo models are probed; pick one of them, or run the app on GPU hardware (README: "
    "Hosting on a Hugging Face Space)"
)
"""Why a :class:`ModelPool` with ``demo_only`` refuses a model (``{model}``: its label)."""


class ModelPool:
    """Registry access and lazily loaded models for the probe.

    Models live in :class:`backend.cache.ModelCache` (thread-safe, loads each model once, evicts the least
    recently used beyond a memory budget, and serves a base-versus-adapter pair from one copy of the base
    weights); ``fake`` entries need no memory and are made on the spot.
    """

    def __init__(
        self,
        registry_path: Path | None = None,
        *,
        quantize: Quantize = "auto",
        device: str | None = None,
        memory_budget_bytes: int = 16 * 2**30,
        cpu_limit_bytes: int | None = None,
        allow_custom: bool = True,
        registry: Registry | None = None,
        demo_only: bool = False,
    ) -> None:
        """Configure the pool; nothing is read or loaded until first use.

        Args:
            registry_path: The registry YAML (default: the backend's, ``models.yaml``).
            quantize: Passed to the backend loader (auto, 4bit, none).
            device: Passed to the backend loader.
            memory_budget_bytes: Budget of the backend model cache (also each model's limit, checked before loading).
            cpu_limit_bytes: Without a GPU, refuse models estimated larger than this (too slow on a CPU).
            allow_custom: Whether pasted Hub ids may be loaded.
            registry: An already loaded registry (otherwise read from ``registry_path`` on first use).
            demo_only: Offer and load only the demo models (a Space without a GPU): any other registry entry
                or Hub id is refused with :data:`CPU_ONLY_REFUSAL` before anything is downloaded.
        """
        self.registry_path = registry_path
        self.quantize = quantize
        self.device = device
        self.memory_budget_bytes = memory_budget_bytes
        self.cpu_limit_bytes = cpu_limit_bytes
        self.allow_custom = allow_custom
        self.demo_only = demo_only
        self._registry = check_registry(registry) if registry is not None else None
        self._lock = threading.Lock()
        self._cache: ModelCache | None = None
        self._seen: set[str] = set()

    @property
    def registry(self) -> Registry:
        """The model registry (read and checked on first use)."""
        if self._registry is None:
            from backend.registry import load_registry

            self._registry = check_registry(load_registry(self.registry_path))
        return self._registry

    def names(self) -> list[str]:
        """Registry names, in file order."""
        return list(self.registry.names)

    def offered(self) -> list[str]:
        """The registry names the probe offers: all of them, or only the demo models when ``demo_only``."""
        return [n for n in self.names() if self.is_demo(n)] if self.demo_only else self.names()

    def is_demo(self, name: str | None) -> bool:
        """True for the project's toy demo models (registry entries under ``demo/models`` or named ``demo...``)."""
        if not name or name not in self.names():
            return False
        spec = self.registry.get(name)
        return name.startswith("demo") or (spec.path or "").replace("\\", "/").startswith("demo/")

    def describe(self, name: str) -> str:
        """One line about a registry entry (method, forget ratio, source)."""
        spec = self.registry.get(name)
        bits = [spec.method or "base model"]
        if spec.forget_ratio:
            bits.append(f"forget {spec.forget_ratio} %")
        bits.append(spec.source)
        return " · ".join(bits)

    def is_loaded(self, choice: ModelChoice, quantize: Quantize | None = None) -> bool:
        """Whether ``choice`` was loaded before at ``quantize`` (default: the pool's); it may since be evicted."""
        with self._lock:
            return self._key(choice, quantize or self.quantize) in self._seen

    def spec(self, choice: ModelChoice) -> ModelSpec:
        """The registry entry of ``choice`` (an ad-hoc one for a custom Hub model).

        Raises:
            ProbeInputError: an unknown registry name, or custom models are disabled.
        """
        from backend.registry import ModelSpec, UnknownModelError

        if self.demo_only and (choice.custom or (choice.name in self.names() and not self.is_demo(choice.name))):
            raise ProbeInputError(CPU_ONLY_REFUSAL.format(model=choice.label))
        if choice.custom:
            if not self.allow_custom:
                raise ProbeInputError("custom Hub models are disabled on this server; pick a registry model")
            return ModelSpec.hub(choice.name, revision=choice.revision)
        try:
            return self.registry.get(choice.name)
        except UnknownModelError as exc:
            raise ProbeInputError(str(exc)) from None

    def _key(self, choice: ModelChoice, quantize: Quantize) -> str:
        name = f"{choice.name}@{choice.revision}" if choice.custom else choice.name
        return name if quantize == self.quantize else f"{name}#{quantize}"

    def get_pair(self, left: ModelChoice, right: ModelChoice, quantize: Quantize | None = None) -> tuple[Model, Model]:
        """Both models, validated first and loaded on first use (an adapter and its base share weights).

        ``quantize`` (the attack panel's precision attacks) overrides the pool's own for this pair; the cache
        keeps each precision as its own load.

        Raises:
            ProbeInputError: an unknown registry name, or custom models are disabled.
            backend.loading.ModelLoadError: a model cannot be loaded (the message says why).
        """
        from backend.cache import ModelCache

        specs = (self.spec(left), self.spec(right))
        with self._lock:
            if self._cache is None:
                self._cache = ModelCache(self.memory_budget_bytes, registry=self.registry,
                                         cpu_limit_bytes=self.cpu_limit_bytes)
            cache = self._cache
        quantize = quantize or self.quantize
        pair = cache.models(*specs, quantize=quantize, device=self.device)
        with self._lock:
            self._seen.update((self._key(left, quantize), self._key(right, quantize)))
        return pair


_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])(?:/[\w.@+-]+){2,}/?")


def load_error_message(exc: BaseException) -> str:
    """A failure as one plain line for a user: its type and message, with this server's paths left out."""
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {_ABSOLUTE_PATH.sub('<server path>', text)}"
