"""The one model seam: what evaluation, the probe and unlearning ask of a model.

:class:`Model` is a small protocol with four jobs: greedy generation of a
batch of prompts, one streamed generation, next-token scoring of candidate
answers, and rendering a conversation with the model's own chat template.
Prompts are :class:`Request` s: the full prompt text and the encoded images its
image placeholders refer to, in order.

Two kinds of model implement it:

- :class:`TransformersModel`: a real vision-language model loaded by
  :mod:`backend.loading` (or already in memory, :meth:`TransformersModel.from_objects`,
  as unlearning has it right after training);
- :class:`backend.fakes.FakeModel`: the registry's ``fake`` kind, for tests and offline demos.

:func:`backend.cache.open_model` gives the right one for a registry entry.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from backend.generation import ChatTurn, StopReason
from backend.loading import LoadedModel, LoadInfo
from backend.registry import ModelSpec

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage


@dataclass(frozen=True)
class Request:
    """A prompt and its images, ready for a model."""

    prompt: str
    """The full prompt text (raw, or already rendered with :meth:`Model.render_chat`)."""
    images: tuple[bytes, ...] = ()
    """Encoded images (JPEG/PNG bytes), one per image placeholder of the prompt, in order."""


class TextStream(Protocol):
    """One streamed answer: iterate it for text chunks; ``stop_reason`` says why it ended."""

    stop_reason: StopReason | None

    def __iter__(self) -> Iterator[str]: ...

    def __next__(self) -> str: ...

    def close(self) -> None:
        """Stop generating now."""
        ...


class Model(Protocol):
    """What the rest of the project needs from a model."""

    @property
    def spec(self) -> ModelSpec:
        """The registry entry it answers as."""
        ...

    @property
    def info(self) -> LoadInfo:
        """Provenance of the weights (quantization, dtype, resolved commit)."""
        ...

    @property
    def name(self) -> str:
        """The registry name."""
        ...

    @property
    def has_chat_template(self) -> bool:
        """Whether :meth:`render_chat` can render a conversation."""
        ...

    def generate(
        self,
        requests: Sequence[Request],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        stop_when: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Greedy continuations (never the prompt), one per request, cut before the first ``stop`` string.

        ``stop_when`` ends a sequence (uncut) once it is true of the continuation so far; greedy decoding
        is prefix-consistent, so the text up to there is what a full-length generation starts with.
        """
        ...

    def stream(
        self,
        request: Request,
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        time_limit_s: float | None = None,
    ) -> TextStream:
        """One greedy continuation as text chunks; setting ``cancel`` stops it at the next token."""
        ...

    def score(self, requests: Sequence[Request], candidates: Sequence[str]) -> list[dict[str, float]]:
        """Next-token log-probabilities of each candidate after each prompt."""
        ...

    def render_chat(self, turns: Sequence[ChatTurn]) -> str:
        """The conversation in the model's chat template, ending with the assistant's turn opener."""
        ...


def decode_images(images: Sequence[bytes]) -> list[PILImage]:
    """Decode encoded images to RGB PIL images (each a fresh copy: callers may change it)."""
    return [_decode_image(data).copy() for data in images]


@functools.lru_cache(maxsize=128)
def _decode_image(data: bytes) -> PILImage:
    """One image decoded once: a profile's portrait comes back with several of its questions (and as a demo)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


class TransformersModel:
    """The seam over a loaded transformers model (:class:`backend.loading.LoadedModel`).

    Args:
        loaded: The model (view) to run.
        batch_size: Most requests per forward pass within one :meth:`generate` or :meth:`score` call.
    """

    def __init__(self, loaded: LoadedModel, *, batch_size: int = 8) -> None:
        self.loaded = loaded
        self.batch_size = batch_size

    @classmethod
    def from_objects(cls, model: Any, processor: Any, *, name: str, batch_size: int = 8) -> TransformersModel:
        """Wrap a model and processor already in memory (e.g. right after training); sets left padding."""
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        weight = model.get_input_embeddings().weight
        spec = ModelSpec(name=name, path="(in memory)", description="a model held in memory")
        info = LoadInfo(name=name, source="(in memory)", revision=None, commit=None, quantization="none",
                        dtype=str(weight.dtype).removeprefix("torch."), device=str(weight.device),
                        reason="in memory", footprint_bytes=int(model.get_memory_footprint()))
        return cls(LoadedModel(model=model.eval(), processor=processor, spec=spec, info=info), batch_size=batch_size)

    @property
    def spec(self) -> ModelSpec:
        """The registry entry."""
        return self.loaded.spec

    @property
    def info(self) -> LoadInfo:
        """Provenance of the loaded weights."""
        return self.loaded.info

    @property
    def name(self) -> str:
        """The registry name."""
        return self.loaded.spec.name

    @property
    def has_chat_template(self) -> bool:
        """Whether the processor carries a chat template."""
        return bool(getattr(self.loaded.processor, "chat_template", None))

    def _requests(self, requests: Sequence[Request]) -> list[Any]:
        from backend.generation import GenerationRequest

        return [GenerationRequest(r.prompt, tuple(decode_images(r.images))) for r in requests]

    def generate(
        self,
        requests: Sequence[Request],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        stop_when: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Greedy continuations (:func:`backend.generation.generate_batch`)."""
        from backend.generation import generate_batch

        return generate_batch(self.loaded, self._requests(requests), max_new_tokens=max_new_tokens, stop=stop,
                              stop_when=stop_when, batch_size=self.batch_size)

    def stream(
        self,
        request: Request,
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        time_limit_s: float | None = None,
    ) -> TextStream:
        """One streamed continuation (:func:`backend.generation.stream_generate`)."""
        from backend.generation import stream_generate

        return stream_generate(self.loaded, self._requests([request])[0], max_new_tokens=max_new_tokens, stop=stop,
                               cancel=cancel, time_limit_s=time_limit_s)

    def score(self, requests: Sequence[Request], candidates: Sequence[str]) -> list[dict[str, float]]:
        """Next-token log-probabilities (:func:`backend.generation.score_candidates`)."""
        from backend.generation import score_candidates

        return score_candidates(self.loaded, self._requests(requests), candidates, batch_size=self.batch_size)

    def render_chat(self, turns: Sequence[ChatTurn]) -> str:
        """The conversation in the processor's chat template (:func:`backend.generation.chat_prompt`)."""
        from backend.generation import chat_prompt

        return chat_prompt(self.loaded, turns)


class PromptedModel:
    """A registry ``prompt`` entry: its ``base`` answering with ``instruction`` put before every prompt.

    This is the prompting method of unlearning (no training: the model is told not to reveal the forget
    people). The instruction goes before the raw prompt text, as a system line before ``USER:`` would; a
    prompt rendered with a chat template gets it before the template's text too. Everything else is the
    base model's.
    """

    def __init__(self, spec: ModelSpec, inner: Model) -> None:
        if not spec.instruction:
            raise ValueError(f"model {spec.name!r} is not a prompt entry (it has no instruction)")
        self._spec = spec
        self.inner = inner
        self.prefix = spec.instruction.rstrip() + "\n"

    @property
    def spec(self) -> ModelSpec:
        """The prompt entry."""
        return self._spec

    @property
    def info(self) -> LoadInfo:
        """The base model's weights' provenance."""
        return self.inner.info

    @property
    def name(self) -> str:
        """The prompt entry's name."""
        return self._spec.name

    @property
    def has_chat_template(self) -> bool:
        """Whether the base model has a chat template."""
        return self.inner.has_chat_template

    @property
    def loaded(self) -> LoadedModel | None:
        """The base model's weights, when it has them (relearning attacks fine-tune them)."""
        return getattr(self.inner, "loaded", None)

    def _prefixed(self, requests: Sequence[Request]) -> list[Request]:
        return [Request(self.prefix + r.prompt, r.images) for r in requests]

    def generate(
        self,
        requests: Sequence[Request],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        stop_when: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """The base model's continuations of the instructed prompts."""
        return self.inner.generate(self._prefixed(requests), max_new_tokens=max_new_tokens, stop=stop,
                                   stop_when=stop_when)

    def stream(
        self,
        request: Request,
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
        time_limit_s: float | None = None,
    ) -> TextStream:
        """The base model's streamed continuation of the instructed prompt."""
        return self.inner.stream(self._prefixed([request])[0], max_new_tokens=max_new_tokens, stop=stop,
                                 cancel=cancel, time_limit_s=time_limit_s)

    def score(self, requests: Sequence[Request], candidates: Sequence[str]) -> list[dict[str, float]]:
        """The base model's next-token log-probabilities after the instructed prompts."""
        return self.inner.score(self._prefixed(requests), candidates)

    def render_chat(self, turns: Sequence[ChatTurn]) -> str:
        """The base model's chat rendering (the instruction is added when the prompt is asked)."""
        return self.inner.render_chat(turns)
