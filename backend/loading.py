"""Load vision-language models safely: local or Hub, full or adapter, 4-bit or not.

Rules, all deliberate:

- Models go through ``AutoModelForImageTextToText`` and ``AutoProcessor``; any
  architecture transformers knows works, none that needs remote code does
  (``trust_remote_code`` is never set).
- Weights only from safetensors (``use_safetensors=True``; a folder or revision
  with only pickle ``.bin`` files is refused with :class:`NoSafetensorsError`).
- Hub repositories are resolved with ``huggingface_hub.snapshot_download`` at
  the pinned revision (progress bars from huggingface_hub), so a pre-populated
  cache works with ``HF_HUB_OFFLINE=1``; the resolved commit is recorded.
- ``quantize="auto"`` means 4-bit nf4 on CUDA and full precision on CPU (4-bit
  on CPU is opt-in: it works with bitsandbytes 0.50 but is slower than fp32 for
  small models); the choice and its reason are logged and recorded.
- Failures are this module's exceptions, each saying what is wrong and how to
  fix it; they all derive from :class:`ModelLoadError`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from backend.registry import ModelKind, ModelSpec, Registry

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, ProcessorMixin

logger = logging.getLogger(__name__)

Quantize = Literal["4bit", "8bit", "none", "auto", "upstream"]
"""Requested precision: 4-bit nf4, 8-bit (LLM.int8), none (bf16 on CUDA, fp32 on CPU), auto (4-bit on CUDA) or
upstream (what the benchmark's eval.py loads: float16 on CUDA; float32 on CPU)."""

WEIGHT_PATTERNS: tuple[str, ...] = (
    "*.json",
    "*.safetensors",
    "*.jinja",
    "*.txt",
    "*.model",
    "*.tiktoken",
    "tokenizer*",
)
"""Files fetched from a Hub repository: configs, safetensors weights and tokenizer files, never pickles."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what is wrong and how to fix it."""


class ModelNotFoundError(ModelLoadError):
    """The local folder, Hub repository or revision does not exist (or is not in the offline cache)."""


class NoSafetensorsError(ModelLoadError):
    """The checkpoint has no safetensors weights (only pickles, which are never loaded)."""


class ModelTooLargeForCpuError(ModelLoadError):
    """The model would load, but on a CPU it would answer far too slowly to use (see ``cpu_limit_bytes``)."""


class AdapterBaseMismatchError(ModelLoadError):
    """A LoRA adapter was made for a different base model than the one it is being applied to."""


class ModelOutOfMemoryError(ModelLoadError):
    """Loading (or running) the model ran out of memory, or would exceed the given memory limit."""


@dataclass(frozen=True)
class ResolvedSource:
    """Where a model's files are on disk, and which commit they are."""

    folder: Path
    """The local folder holding config, weights and processor files."""
    commit: str | None
    """The Hub commit sha the revision resolved to; None for a local folder."""


@dataclass(frozen=True)
class LoadInfo:
    """Provenance of a loaded model, for results and the UI."""

    name: str
    """Registry name of the model (the adapter's name for an adapter)."""
    source: str
    """Hub repository id or local folder."""
    revision: str | None
    """The requested revision (None for local folders)."""
    commit: str | None
    """The resolved Hub commit (None for local folders)."""
    quantization: str
    """'4bit-nf4' or 'none'."""
    dtype: str
    """Torch dtype of the unquantized weights and activations, e.g. 'float32'."""
    device: str
    """Device the weights are on, e.g. 'cpu' or 'cuda:0'."""
    reason: str
    """Why this quantization and dtype were chosen."""
    footprint_bytes: int
    """Bytes of parameters and buffers (``get_memory_footprint``), the adapter included."""
    base: LoadInfo | None = None
    """For an adapter: provenance of the base model it is applied on."""


@dataclass
class LoadedModel:
    """A loaded model and processor, and whether a LoRA adapter is active in this view.

    Two views can share one model object: :meth:`base_view` of an adapter model
    answers with the adapter disabled, so a base-versus-unlearned comparison
    holds one copy of the base weights. All inference on the shared object must
    hold :attr:`lock` (the generation functions do), because disabling an
    adapter and bitsandbytes' first CPU forward both change the model in place.
    """

    model: PreTrainedModel
    """The transformers model, or a ``peft.PeftModel`` wrapping it for adapters."""
    processor: ProcessorMixin
    """The processor (tokenizer with left padding, image processor, chat template)."""
    spec: ModelSpec
    """The registry entry this view answers as."""
    info: LoadInfo
    """Provenance of the loaded weights."""
    base_spec: ModelSpec | None = None
    """For an adapter model: the registry entry of its base."""
    adapter_enabled: bool = True
    """False for the base view of an adapter model; ignored for full models."""
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    """Serialises inference on the underlying model object (shared by views)."""

    @property
    def has_adapter(self) -> bool:
        """True when the underlying model object carries a LoRA adapter (in this view or not)."""
        return hasattr(self.model, "disable_adapter") and hasattr(self.model, "peft_config")

    @property
    def tokenizer(self) -> Any:
        """The processor's tokenizer."""
        return self.processor.tokenizer

    @property
    def device(self) -> torch.device:
        """Device of the model's input embeddings (where inputs must go)."""
        weight: Any = self.model.get_input_embeddings().weight
        return weight.device

    @property
    def context_length(self) -> int | None:
        """Maximum tokens (prompt plus continuation) the language model supports, if the config says."""
        config = self.model.config
        limits = []
        for cfg in (getattr(config, "text_config", None), config):
            value = getattr(cfg, "max_position_embeddings", None) if cfg is not None else None
            if isinstance(value, int) and value > 0:
                limits.append(value)
        model_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max < 10**8:
            limits.append(model_max)
        return min(limits) if limits else None

    def base_view(self) -> LoadedModel:
        """A view of the same weights answering as the base model (adapter disabled), sharing the lock."""
        if not self.has_adapter or self.base_spec is None or self.info.base is None:
            raise ValueError(f"{self.spec.name} is not an adapter model; it has no separate base view")
        return LoadedModel(
            model=self.model,
            processor=self.processor,
            spec=self.base_spec,
            info=self.info.base,
            base_spec=None,
            adapter_enabled=False,
            lock=self.lock,
        )

    @contextlib.contextmanager
    def activated(self) -> Iterator[Any]:
        """Hold the lock and yield the model as this view sees it (adapter disabled for a base view)."""
        with self.lock:
            if self.has_adapter and not self.adapter_enabled:
                with self.model.disable_adapter():  # type: ignore[operator]
                    yield self.model
            else:
                yield self.model


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def pick_device(device: str | None) -> str:
    """Normalise a device request: None or 'auto' picks CUDA when available, else 'cpu'.

    Under ``accelerate launch`` / torchrun (``LOCAL_RANK`` set) each process takes its own GPU,
    ``cuda:LOCAL_RANK``, so that N processes use N GPUs instead of all sharing GPU 0.
    """
    if device in (None, "auto"):
        if not _has_cuda():
            return "cpu"
        local_rank = os.environ.get("LOCAL_RANK")
        return f"cuda:{int(local_rank)}" if local_rank is not None else "cuda"
    assert device is not None
    if device.startswith("cuda") and not _has_cuda():
        raise ModelLoadError(f"device {device!r} was requested but CUDA is not available; use device='cpu'")
    return device


@dataclass(frozen=True)
class Precision:
    """The chosen quantization and dtype, and why."""

    quantize_4bit: bool
    """Load linear layers as bitsandbytes 4-bit nf4."""
    dtype: torch.dtype
    """Dtype of the weights that stay unquantized, and of activations."""
    reason: str
    """Human-readable reason, logged and recorded in :class:`LoadInfo`."""
    quantize_8bit: bool = False
    """Load linear layers as bitsandbytes 8-bit (LLM.int8); the robustness attacks ask for it."""

    @property
    def label(self) -> str:
        """How :class:`LoadInfo` records it: ``4bit-nf4``, ``8bit`` or ``none``."""
        return "4bit-nf4" if self.quantize_4bit else "8bit" if self.quantize_8bit else "none"


def choose_precision(quantize: Quantize, device: str) -> Precision:
    """Decide 4-bit or not, and the dtype, for a device; see the module docstring for the rules."""
    import torch

    on_cuda = device.startswith("cuda")
    if quantize not in ("4bit", "8bit", "none", "auto", "upstream"):
        raise ValueError(f"quantize must be '4bit', '8bit', 'none', 'auto' or 'upstream', got {quantize!r}")
    full_dtype = torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else torch.float32
    if quantize == "upstream":
        if on_cuda:
            return Precision(False, torch.float16, "upstream eval.py's precision: float16 weights on CUDA")
        return Precision(False, torch.float32, "upstream eval.py's precision is float16 on CUDA; float32 on CPU")
    if quantize == "auto":
        if not on_cuda:
            return Precision(False, full_dtype, "auto on CPU: full precision float32 (ask quantize='4bit' for nf4)")
        if not _bitsandbytes_available():
            return Precision(False, full_dtype, "auto on CUDA but bitsandbytes is not installed: bfloat16")
        return Precision(True, full_dtype, "auto on CUDA: 4-bit nf4 with bitsandbytes")
    if quantize in ("4bit", "8bit"):
        if not _bitsandbytes_available():
            raise ModelLoadError(
                f"quantize={quantize!r} needs bitsandbytes; `pip install bitsandbytes` or use quantize='none'"
            )
        if quantize == "8bit":
            return Precision(False, full_dtype, f"8-bit (LLM.int8) requested on {device}", quantize_8bit=True)
        return Precision(True, full_dtype, f"4-bit nf4 requested on {device}")
    return Precision(False, full_dtype, f"quantize='none' on {device}: {str(full_dtype).removeprefix('torch.')}")


def _bitsandbytes_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


class _DropKernelsHint(logging.Filter):
    """Hide bitsandbytes' import-time hint about the optional ``kernels`` package.

    Without ``kernels`` (which downloads compiled code from the Hub at run time,
    so this project does not use it), bitsandbytes' CPU 4-bit matmul falls back
    to its own bundled kernel; ``tests/backend`` checks it against a dequantized
    matmul. The hint is logged at debug level instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if "kernels-community" in record.getMessage():
            logger.debug("bitsandbytes: %s (using its bundled CPU kernel)", record.getMessage())
            return False
        return True


_KERNELS_FILTER = _DropKernelsHint()


class _DropInt8CastNote(logging.Filter):
    """Hide the note LLM.int8 logs on every matmul of a float32 model: activations go to float16 for the int8 kernel.

    That is how 8-bit loading works (recorded as ``8bit`` in :class:`LoadInfo`); repeated per batch it
    drowns every progress bar.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be cast from" not in record.getMessage()


_INT8_FILTER = _DropInt8CastNote()


def _quiet_bitsandbytes() -> None:
    for name, noise in (("bitsandbytes.backends.cpu.ops", _KERNELS_FILTER),
                        ("bitsandbytes.autograd._functions", _INT8_FILTER)):
        bnb_logger = logging.getLogger(name)
        if noise not in bnb_logger.filters:
            bnb_logger.addFilter(noise)


def resolve_source(
    spec: ModelSpec, *, registry: Registry | None = None, cache_dir: Path | None = None
) -> ResolvedSource:
    """Find a model's files: the local folder, or the Hub snapshot at the pinned revision.

    Hub files come from ``snapshot_download`` (configs, safetensors and
    tokenizer files only). With ``HF_HUB_OFFLINE=1`` the cached snapshot of the
    revision is used, and a missing one is a :class:`ModelNotFoundError`.

    Raises:
        ModelNotFoundError: the folder, repository or revision does not exist (or is not cached offline).
    """
    if spec.is_local:
        folder = registry.local_path(spec) if registry is not None else spec.local_path()
        if not folder.is_dir():
            raise ModelNotFoundError(
                f"model {spec.name!r}: folder {folder} does not exist; fix 'path' in the registry"
                + (" or rebuild the demo models with `python -m demo`" if "demo" in folder.parts else "")
            )
        return ResolvedSource(folder, None)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    assert spec.repo_id is not None
    where = f"{spec.repo_id}@{spec.revision}"
    try:
        folder = Path(
            snapshot_download(
                spec.repo_id, revision=spec.revision, allow_patterns=list(WEIGHT_PATTERNS), cache_dir=cache_dir
            )
        )
    except RevisionNotFoundError:
        raise ModelNotFoundError(
            f"model {spec.name!r}: revision {spec.revision!r} does not exist in {spec.repo_id}; "
            "fix 'revision' in the registry (a branch, tag or full commit sha)"
        ) from None
    except GatedRepoError:
        raise ModelNotFoundError(
            f"model {spec.name!r}: {spec.repo_id} is gated; accept its terms on the Hub and set HF_TOKEN"
        ) from None
    except RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"model {spec.name!r}: Hub repository {spec.repo_id} not found (or private); check 'repo_id', "
            "or set HF_TOKEN for a private repository"
        ) from None
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(
            f"model {spec.name!r}: {where} is not in the local Hugging Face cache and downloads are off "
            "(HF_HUB_OFFLINE=1 or no network); download it once online, or point HF_HUB_CACHE at a cache that has it"
        ) from None
    except IncompleteSnapshotError as exc:
        raise ModelNotFoundError(
            f"model {spec.name!r}: the cached snapshot of {where} is incomplete ({exc}); download it again online"
        ) from None
    except HFValidationError as exc:
        raise ModelNotFoundError(f"model {spec.name!r}: invalid repository id or revision: {exc}") from None
    commit = folder.name if len(folder.name) == 40 else None
    return ResolvedSource(folder, commit)


def _require_safetensors(spec: ModelSpec, folder: Path, *, adapter: bool) -> None:
    pattern = "adapter_model*.safetensors" if adapter else "*.safetensors"
    if any(folder.glob(pattern)):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl"))
    found = f" (it has only {', '.join(pickles)}: pickle files, which are never loaded)" if pickles else ""
    raise NoSafetensorsError(
        f"model {spec.name!r}: no {pattern} weights in {folder}{found}; convert the checkpoint to safetensors "
        "(save_pretrained(..., safe_serialization=True)) or pin a revision that has them"
    )


def _translate_oom(spec: ModelSpec, exc: BaseException) -> ModelOutOfMemoryError | None:
    import torch

    text = str(exc)
    if (
        isinstance(exc, torch.OutOfMemoryError | MemoryError)
        or "out of memory" in text.lower()
        or ("DefaultCPUAllocator" in text and "allocate" in text)
    ):
        return ModelOutOfMemoryError(
            f"model {spec.name!r}: out of memory while loading or running it ({text.strip()[:200]}); "
            "use quantize='4bit', free memory (fewer cached models, a smaller model cache budget), or a larger machine"
        )
    return None


def estimate_weight_bytes(folder: Path) -> int:
    """Bytes of the safetensors weights in ``folder`` on disk (not what they take once loaded: see below)."""
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


QUANTIZED_BITS = {"4bit": 4.5, "8bit": 8.0}
"""Bits per weight of a quantized linear layer (nf4 with double quantization keeps about 4.5)."""


def estimate_load_bytes(folder: Path, precision: Precision) -> int:
    """Bytes the weights take once loaded at ``precision``, without reading them.

    accelerate sizes an empty (meta-device) instance of the model in the dtype it will load in
    (``compute_module_sizes``), so a float16 checkpoint loaded as float32 on a CPU counts double, not its file
    size; quantized linear layers (all but the output head) count at :data:`QUANTIZED_BITS`. When transformers
    cannot build the architecture from its config, the size on disk is the estimate.
    """
    import torch
    from accelerate import init_empty_weights
    from accelerate.utils import compute_module_sizes
    from transformers import AutoConfig, AutoModelForImageTextToText

    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
        with init_empty_weights():
            model = AutoModelForImageTextToText.from_config(config)
        model.tie_weights()  # as loading does: a tied output head shares the embeddings' memory
    except (OSError, ValueError, KeyError):
        return estimate_weight_bytes(folder)
    total = int(compute_module_sizes(model, dtype=precision.dtype)[""])
    bits = QUANTIZED_BITS["4bit"] if precision.quantize_4bit else QUANTIZED_BITS["8bit"] if precision.quantize_8bit \
        else None
    if bits is not None:
        head = model.get_output_embeddings()
        width = torch.finfo(precision.dtype).bits
        linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head)
        total -= int(linear * (width - bits) / 8)
    return total


def _load_processor(spec: ModelSpec, folder: Path) -> ProcessorMixin:
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model {spec.name!r}: cannot load its processor from {folder}: {exc}") from exc
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        raise ModelLoadError(
            f"model {spec.name!r}: {folder} has no multimodal processor (AutoProcessor gave "
            f"{type(processor).__name__}); it needs preprocessor/processor configs and a tokenizer"
        )
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return processor


def _damaged_weights(spec: ModelSpec, folder: Path, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"model {spec.name!r}: the safetensors weights in {folder} cannot be read ({str(exc)[:200]}); the file is "
        "damaged or was not fully downloaded: download it again (delete it from the Hugging Face cache first) or "
        "save the checkpoint again"
    )


def _load_full(spec: ModelSpec, folder: Path, precision: Precision, device: str) -> PreTrainedModel:
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = {"dtype": precision.dtype, "device_map": {"": device}}
    if precision.quantize_4bit:
        from transformers import BitsAndBytesConfig

        _quiet_bitsandbytes()
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=precision.dtype,
            bnb_4bit_use_double_quant=True,
        )
    elif precision.quantize_8bit:
        from transformers import BitsAndBytesConfig

        _quiet_bitsandbytes()
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    from safetensors import SafetensorError

    try:
        model = AutoModelForImageTextToText.from_pretrained(
            folder, use_safetensors=True, trust_remote_code=False, **kwargs
        )
    except SafetensorError as exc:
        raise _damaged_weights(spec, folder, exc) from exc
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc) or "model type" in str(exc):
            raise ModelLoadError(
                f"model {spec.name!r}: {folder} is not an image-text-to-text model transformers knows "
                f"({exc}); only AutoModelForImageTextToText architectures are supported, without remote code"
            ) from exc
        raise
    model.eval()
    return model


def _adapter_base_matches(recorded: str | None, base: ModelSpec, base_folder: Path) -> bool:
    if not recorded:
        return True
    candidates = {base.name, base.source, base_folder.name, str(base_folder)}
    if base.repo_id:
        candidates.add(base.repo_id.split("/")[-1])
    if recorded in candidates or Path(recorded).name in candidates:
        return True
    with contextlib.suppress(OSError):
        if Path(recorded).exists() and Path(recorded).resolve() == base_folder.resolve():
            return True
    return False


def _apply_adapter(
    spec: ModelSpec, base_model: PreTrainedModel, folder: Path, base: ModelSpec, base_folder: Path
) -> Any:
    from peft import PeftModel

    config_file = folder / "adapter_config.json"
    if not config_file.is_file():
        raise ModelLoadError(
            f"model {spec.name!r}: {folder} has no adapter_config.json; is it a full checkpoint? "
            "Set kind: full in the registry, or point path/repo_id at a peft adapter folder"
        )
    _require_safetensors(spec, folder, adapter=True)
    recorded = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not _adapter_base_matches(recorded, base, base_folder):
        raise AdapterBaseMismatchError(
            f"model {spec.name!r}: the adapter was trained on {recorded!r} but the registry applies it to "
            f"{base.name!r} ({base.source}); set 'base' to the entry for {recorded!r}"
        )
    from safetensors import SafetensorError

    try:
        return PeftModel.from_pretrained(base_model, folder, is_trainable=False)
    except SafetensorError as exc:
        raise _damaged_weights(spec, folder, exc) from exc
    except (RuntimeError, ValueError, KeyError) as exc:
        oom = _translate_oom(spec, exc)
        if oom is not None:
            raise oom from exc
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = next((line for line in lines if "size mismatch" in line), lines[0] if lines else type(exc).__name__)
        raise AdapterBaseMismatchError(
            f"model {spec.name!r}: the adapter in {folder} does not fit base {base.name!r} ({base.source}): "
            f"{detail[:300]}; set 'base' to the model the adapter was trained on"
        ) from exc


def load_model(
    spec: ModelSpec,
    *,
    quantize: Quantize = "auto",
    device: str | None = None,
    registry: Registry | None = None,
    base: ModelSpec | None = None,
    memory_limit_bytes: int | None = None,
    cpu_limit_bytes: int | None = None,
) -> LoadedModel:
    """Load a registry entry (full checkpoint or LoRA adapter on its base) and its processor.

    Args:
        spec: The model to load.
        quantize: '4bit' (nf4), '8bit' (LLM.int8), 'none', 'upstream' (eval.py's: float16 on CUDA) or 'auto'
            (4-bit on CUDA, full precision on CPU).
        device: 'cpu', 'cuda', 'cuda:N', or None/'auto' for CUDA when available.
        registry: Resolves an adapter's ``base`` name and relative local paths.
        base: The base entry of an adapter, when there is no registry.
        memory_limit_bytes: Refuse (with :class:`ModelOutOfMemoryError`) weights that would take more than this
            once loaded (:func:`estimate_load_bytes`), before reading them.
        cpu_limit_bytes: On a CPU, refuse (with :class:`ModelTooLargeForCpuError`) weights larger than this once
            loaded: a model that fits in memory can still take minutes per answer without a GPU.

    Returns:
        The model in eval mode with its processor and provenance.

    Raises:
        ModelNotFoundError, NoSafetensorsError, AdapterBaseMismatchError, ModelOutOfMemoryError, ModelLoadError.
    """
    import torch

    _quiet_bitsandbytes()
    dev = pick_device(device)
    precision = choose_precision(quantize, dev)
    if spec.kind is ModelKind.ADAPTER:
        if base is None:
            if registry is None or spec.base is None:
                raise ModelLoadError(f"model {spec.name!r} is an adapter: pass registry= or base= to load its base")
            base = registry.get(spec.base)
        if base.kind is ModelKind.ADAPTER:
            raise AdapterBaseMismatchError(f"model {spec.name!r}: its base {base.name!r} is itself an adapter")
        full_spec = base
    else:
        full_spec = spec
    full_source = resolve_source(full_spec, registry=registry)
    _require_safetensors(full_spec, full_source.folder, adapter=False)
    adapter_source = resolve_source(spec, registry=registry) if spec.kind is ModelKind.ADAPTER else None
    on_cpu = dev == "cpu"
    if memory_limit_bytes is not None or (on_cpu and cpu_limit_bytes is not None):
        needed = estimate_load_bytes(full_source.folder, precision)
        if on_cpu and cpu_limit_bytes is not None and needed > cpu_limit_bytes:
            raise ModelTooLargeForCpuError(
                f"model {spec.name!r} needs about {needed / 2**30:.1f} GiB and this machine has no GPU: on a CPU a "
                f"model that size takes minutes per answer (a 4-bit 7B model on 2 cores: about 18 s per token), "
                f"so models over {cpu_limit_bytes / 2**30:.1f} GiB are not loaded on a CPU here; pick a demo model, "
                "or run the app on a GPU (README: Hosting on a Hugging Face Space)"
            )
        if memory_limit_bytes is not None and needed > memory_limit_bytes:
            raise ModelOutOfMemoryError(
                f"model {spec.name!r}: its weights need about {needed / 2**20:.1f} MiB but the limit is "
                f"{memory_limit_bytes / 2**20:.1f} MiB; use quantize='4bit', raise the limit, or pick a smaller model"
            )
    logger.info("loading %s from %s on %s: %s", spec.name, full_source.folder, dev, precision.reason)
    try:
        processor = _load_processor(full_spec, full_source.folder)
        model: Any = _load_full(full_spec, full_source.folder, precision, dev)
        full_info = LoadInfo(
            name=full_spec.name,
            source=full_spec.repo_id or str(full_source.folder),
            revision=full_spec.revision,
            commit=full_source.commit,
            quantization=precision.label,
            dtype=str(precision.dtype).removeprefix("torch."),
            device=dev,
            reason=precision.reason,
            footprint_bytes=int(model.get_memory_footprint()),
        )
        info = full_info
        if adapter_source is not None:
            model = _apply_adapter(spec, model, adapter_source.folder, full_spec, full_source.folder)
            model.eval()
            info = LoadInfo(
                name=spec.name,
                source=spec.repo_id or str(adapter_source.folder),
                revision=spec.revision,
                commit=adapter_source.commit,
                quantization=full_info.quantization,
                dtype=full_info.dtype,
                device=dev,
                reason=precision.reason,
                footprint_bytes=int(model.get_memory_footprint()),
                base=full_info,
            )
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        oom = _translate_oom(spec, exc)
        gc.collect()
        if oom is not None:
            raise oom from exc
        raise
    return LoadedModel(
        model=model,
        processor=processor,
        spec=spec,
        info=info,
        base_spec=full_spec if adapter_source is not None else None,
    )
