r"""Greedy generation, streaming and next-token scoring for loaded models.

Prompts come in two modes:

- **raw**: a :class:`GenerationRequest` prompt is passed to the processor
  verbatim, e.g. upstream's ``"USER: <image>\n...\nASSISTANT:"`` strings
  (spec section 3). Each ``<image>`` (the processor's image token) takes the
  next image of the request, so their counts must match.
- **chat template**: :func:`chat_prompt` renders a conversation with the
  processor's own chat template into such a string (the strict protocol).

Results returned by :func:`generate_batch` and :func:`stream_generate` are the
continuation only (never the prompt), decoded without special tokens, and
**cut before** the first stop string (the stop string itself is not returned).
Batches are left padded; greedy results do not depend on the batch size
(``tests/backend`` checks batched against one-at-a-time).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from backend import prefix_attention
from backend.loading import LoadedModel
from backend.pixels import cached_processor

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image as PILImage

Progress = Callable[[int, int], object]
"""Called as ``progress(done, total)`` after each batch."""

StopReason = Literal["eos", "max_new_tokens", "stop_string", "cancelled", "time_limit"]
"""Why a stream ended."""


class PromptError(ValueError):
    """A prompt cannot be run as given (too long, image count mismatch, no chat template); the message says why."""


class PromptTooLongError(PromptError):
    """Prompt plus ``max_new_tokens`` exceeds the model's context length."""


@dataclass(frozen=True, eq=False)
class GenerationRequest:
    """One prompt and the images its image tokens refer to."""

    prompt: str
    """The full prompt text, passed to the processor verbatim (raw mode) or made by :func:`chat_prompt`."""
    images: tuple[PILImage, ...] = ()
    """One image per image token in the prompt, in order."""


class ChatTurn(Protocol):
    """One turn of a conversation for :func:`chat_prompt` (``benchmark.prompts.ChatTurn`` is one)."""

    @property
    def role(self) -> str:
        """``system``, ``user`` or ``assistant``."""
        ...

    @property
    def text(self) -> str:
        """What is said."""
        ...

    @property
    def images(self) -> int:
        """How many images come with this turn (placed before the text, as LLaVA does)."""
        ...


def chat_prompt(loaded: LoadedModel, turns: Sequence[ChatTurn], *, add_generation_prompt: bool = True) -> str:
    """Render a conversation with the model's own chat template (chat-template mode).

    Args:
        loaded: The model whose processor's template is used.
        turns: The conversation, in order.
        add_generation_prompt: End with the assistant's turn opener so the model answers.

    Raises:
        PromptError: the processor has no chat template.
    """
    processor: Any = loaded.processor
    if not getattr(processor, "chat_template", None):
        raise PromptError(
            f"model {loaded.spec.name!r} has no chat template; use prompt_style llava/idefics2 (raw prompts) "
            "or add chat_template.jinja to its processor"
        )
    conversation = [
        {"role": turn.role, "content": [{"type": "image"}] * turn.images + [{"type": "text", "text": turn.text}]}
        for turn in turns
    ]
    return str(processor.apply_chat_template(conversation, add_generation_prompt=add_generation_prompt, tokenize=False))


def _image_token(loaded: LoadedModel) -> str | None:
    token = getattr(loaded.processor, "image_token", None)
    return token if isinstance(token, str) and token else None


def _check_images(loaded: LoadedModel, index: int, request: GenerationRequest) -> None:
    token = _image_token(loaded)
    if token is None:
        if request.images:
            raise PromptError(f"request {index}: model {loaded.spec.name!r} takes no images")
        return
    count = request.prompt.count(token)
    if count != len(request.images):
        raise PromptError(
            f"request {index}: the prompt has {count} {token} token(s) but {len(request.images)} image(s) were given; "
            f"put one {token} in the prompt per image"
        )


def _encode(loaded: LoadedModel, requests: Sequence[GenerationRequest]) -> Any:
    """Tokenize a batch (left padded) and move it to the model's device."""
    processor: Any = loaded.processor
    tokenizer = loaded.tokenizer
    bos = getattr(tokenizer, "bos_token", None)
    # A chat template may already start with BOS; do not add a second one.
    add_special = not (bos and all(r.prompt.startswith(bos) for r in requests))
    images = [img for r in requests for img in r.images]
    kwargs: dict[str, Any] = {"text": [r.prompt for r in requests], "padding": True, "return_tensors": "pt"}
    if images:
        kwargs["images"] = images
        processor = cached_processor(processor)  # each distinct image preprocessed once per model
    enc = processor(**kwargs, add_special_tokens=add_special)
    return enc.to(loaded.device)


def _check_length(loaded: LoadedModel, indices: Sequence[int], enc: Any, max_new_tokens: int) -> None:
    limit = loaded.context_length
    if limit is None:
        return
    lengths = enc["attention_mask"].sum(dim=1).tolist()
    for index, length in zip(indices, lengths, strict=True):
        if length + max_new_tokens > limit:
            raise PromptTooLongError(
                f"request {index}: the prompt is {length} tokens (images expanded) and {max_new_tokens} new tokens "
                f"are asked, but model {loaded.spec.name!r} has a context of {limit} tokens; shorten the prompt "
                "(fewer few-shot demos or images) or lower max_new_tokens"
            )


MIN_SHARED_PREFIX = 32
"""Fewest shared prompt tokens worth computing once for a whole batch (below that, prefill as usual)."""


@dataclass(frozen=True)
class _Shared:
    """A batch's prompts as one shared prefix (computed once) and per-row suffixes (left padded after it)."""

    length: int
    """Tokens in the shared prefix."""
    images: int
    """Images inside the shared prefix (the first ``images`` of every row)."""
    pixel_rows: tuple[int, ...]
    """Row offsets of each request's first image in ``pixel_values``."""


def _shared_prefix(loaded: LoadedModel, enc: Any, image_counts: Sequence[int]) -> _Shared | None:
    """The longest prompt prefix that every request of the batch shares, token for token and image for image.

    Few-shot prompts of one task share a long prefix (the demonstrations and their portraits): it is computed
    once and its keys and values reused by every row, as vLLM's automatic prefix caching does. Only for
    processors whose output is ``input_ids``, ``attention_mask`` and one ``pixel_values`` row per image with a
    fixed number of image tokens (LLaVA); any other layout, or a short prefix, returns None (plain prefill).
    """
    import torch

    if set(enc.keys()) - {"input_ids", "attention_mask", "pixel_values"} or len(image_counts) < 2:
        return None
    ids, mask = enc["input_ids"], enc["attention_mask"].bool()
    rows = [ids[i][mask[i]] for i in range(ids.shape[0])]
    shortest = min(len(r) for r in rows)
    head = torch.stack([r[:shortest] for r in rows])
    length = min(int((head == head[0]).all(dim=0).long().cumprod(0).sum()), shortest - 1)
    pixels = enc.get("pixel_values")
    images = 0
    offsets = [0, *itertools.accumulate(image_counts)][:-1]
    if sum(image_counts):
        image_id = getattr(loaded.processor, "image_token_id", None)
        if image_id is None or pixels is None or pixels.ndim != 4 or pixels.shape[0] != sum(image_counts):
            return None
        per_image = [int((r == image_id).sum()) for r in rows]
        first = next(i for i, n in enumerate(image_counts) if n)
        tokens = per_image[first] // image_counts[first]
        if tokens == 0 or any(t != tokens * n for t, n in zip(per_image, image_counts, strict=True)):
            return None  # not a fixed number of tokens per image (e.g. LLaVA-NeXT's tiles): plain prefill
        starts = (rows[0] == image_id).nonzero().flatten().tolist()[::tokens]  # where each image's tokens begin
        images = sum(1 for start in starts if start + tokens <= length)
        for j in range(images):  # the same image tokens can stand for other portraits: compare the pixels
            if not all(torch.equal(pixels[o + j], pixels[offsets[0] + j]) for o in offsets[1:]):
                images = j
                break
        if images < len(starts) and starts[images] < length:  # end the prefix before the first image not shared
            length = starts[images]
    if length < MIN_SHARED_PREFIX:
        return None
    return _Shared(length=length, images=images, pixel_rows=tuple(offsets))


CACHE_ROOM = 256
"""Tokens of spare room a generation cache layer takes when it grows (see :func:`_growing_cache`)."""


@functools.cache
def _growing_layer() -> type:
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A dynamic cache layer that writes each new token into spare room instead of concatenating.

        transformers' ``DynamicLayer`` concatenates the whole cache at every generated token (O(length) copies per
        token). This one keeps ``CACHE_ROOM`` tokens of spare room and hands out views; anything that replaced its
        tensors (``batch_repeat_interleave``, ``crop``, ...) is noticed and copied into fresh room.
        """

        _room_keys: Any = None
        _room_values: Any = None

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            current: Any = self.keys
            old = current.shape[-2] if current.numel() else 0
            new = old + key_states.shape[-2]
            room = self._room_keys
            ours = (room is not None and old > 0 and current.data_ptr() == room.data_ptr()
                    and current.shape[:2] == room.shape[:2] and current.stride() == room.stride())
            if not ours or new > room.shape[-2]:
                shape = (*key_states.shape[:2], new + CACHE_ROOM)
                keys = key_states.new_empty((*shape, key_states.shape[-1]))
                values = value_states.new_empty((*shape, value_states.shape[-1]))
                if old:
                    keys[..., :old, :] = self.keys
                    values[..., :old, :] = self.values
                self._room_keys, self._room_values = keys, values
            self._room_keys[..., old:new, :] = key_states
            self._room_values[..., old:new, :] = value_states
            self.keys = self._room_keys[..., :new, :]
            self.values = self._room_values[..., :new, :]
            return self.keys, self.values

    return GrowingLayer


def _growing_cache() -> Any:
    """An empty key/value cache for generation whose layers grow in place (:func:`_growing_layer`)."""
    from transformers.cache_utils import Cache

    return Cache(layer_class_to_replicate=_growing_layer())


def _with_shared_prefix(
    model: Any, enc: Any, shared: _Shared, image_counts: Sequence[int], pad_id: int
) -> dict[str, Any]:
    """Run the shared prefix once; return inputs for ``generate`` that continue from its cache.

    The returned ``input_ids`` are ``[prefix | padding | suffix]`` per row with an attention mask that hides
    the padding; ``generate`` derives each token's position from that mask, so every row sees exactly the
    positions (and, greedy, the answer) of its own unpadded prompt.
    """
    import torch

    ids, mask = enc["input_ids"], enc["attention_mask"].bool()
    rows = [ids[i][mask[i]] for i in range(ids.shape[0])]
    n, width = len(rows), shared.length + max(len(r) - shared.length for r in rows)
    pixels = enc.get("pixel_values")
    prefix = rows[0][: shared.length].unsqueeze(0)
    first = shared.pixel_rows[0]
    prefix_inputs: dict[str, Any] = {}
    if shared.images:
        prefix_inputs["pixel_values"] = pixels[first : first + shared.images]
    out = model(input_ids=prefix, attention_mask=torch.ones_like(prefix), use_cache=True, logits_to_keep=1,
                past_key_values=_growing_cache(), **prefix_inputs)
    if prefix_attention.supported(model):  # the prefix held once, read once per step (cascade attention)
        cache = prefix_attention.shared_prefix_cache(out.past_key_values, _growing_layer())
    else:  # a copy of the prefix in every row
        cache = out.past_key_values
        cache.batch_repeat_interleave(n)
    input_ids = torch.full((n, width), pad_id, dtype=ids.dtype, device=ids.device)
    attention = torch.zeros((n, width), dtype=enc["attention_mask"].dtype, device=ids.device)
    input_ids[:, : shared.length] = prefix
    attention[:, : shared.length] = 1
    for i, row in enumerate(rows):
        suffix = row[shared.length :]
        input_ids[i, width - len(suffix) :] = suffix
        attention[i, width - len(suffix) :] = 1
    inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention, "past_key_values": cache}
    if pixels is not None:
        rest = [pixels[o + shared.images : o + count] for o, count in zip(shared.pixel_rows, image_counts, strict=True)]
        if sum(len(r) for r in rest):
            inputs["pixel_values"] = torch.cat(rest)
    return inputs


def _attending(model: Any, inputs: dict[str, Any]) -> contextlib.AbstractContextManager[None]:
    """The context in which ``model`` runs on ``inputs``: reading their cache's shared prefix if it holds one."""
    cache = inputs.get("past_key_values")
    if cache is not None and cache.layers and getattr(cache.layers[0], "prefix_keys", None) is not None:
        return prefix_attention.sharing(model, cache)
    return contextlib.nullcontext()


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string; also say whether one was found."""
    positions = [p for p in (text.find(s) for s in stop if s) if p >= 0]
    if not positions:
        return text, False
    return text[: min(positions)], True


@functools.lru_cache(maxsize=8)
def _closing_tokens(tokenizer: Any, stops: tuple[str, ...]) -> frozenset[int]:
    """Token ids that can complete one of ``stops``: those whose text has a stop string's last character.

    Tokens that decode to nothing or to a partial character (byte pieces) are kept too when a stop string ends
    in a character of several bytes (a byte piece may complete it); an ASCII character (``ASSISTANT:``'s
    colon) is one whole byte, so only a token whose text has it can complete the stop. Special tokens are never
    kept (decoding skips them).
    """
    lasts = {s[-1] for s in stops}
    pieces = any(not c.isascii() for c in lasts)
    special = set(tokenizer.all_special_ids)  # dropped when decoding: they complete nothing (padding of done rows)
    found = set()
    for token_id in range(len(tokenizer)):
        if token_id in special:
            continue
        text = tokenizer.decode([token_id])
        if any(c in text for c in lasts) or (pieces and (not text or "\ufffd" in text)):
            found.add(token_id)
    return frozenset(found)


def _stopping_criteria(loaded: LoadedModel, prompt_length: int, stop: Sequence[str]) -> Any:
    import torch
    from transformers import StoppingCriteria

    tokenizer = loaded.tokenizer
    stops = tuple(s for s in stop if s)
    # A new stop string can only be in the last few tokens (every token is at least one byte), and only once a
    # token that ends it has been generated: the rows are decoded only then, not at every step.
    window = max((len(s.encode()) for s in stops), default=0) + 2
    closing = torch.tensor(sorted(_closing_tokens(tokenizer, stops)), dtype=torch.long)

    class _StopStrings(StoppingCriteria):
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
            done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            if input_ids.shape[1] <= prompt_length:
                return done  # type: ignore[return-value]
            candidates = torch.isin(input_ids[:, -1], closing.to(input_ids.device)).nonzero().flatten().tolist()
            for i in candidates:
                text = tokenizer.decode(input_ids[i, prompt_length:][-window:], skip_special_tokens=True)
                done[i] = any(s in text for s in stops)
            return done  # type: ignore[return-value]

    return _StopStrings()


def _predicate_criteria(loaded: LoadedModel, prompt_length: int, predicate: Callable[[str], bool]) -> Any:
    from transformers import StoppingCriteria

    tokenizer = loaded.tokenizer

    class _Predicate(StoppingCriteria):
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
            import torch

            done = [predicate(tokenizer.decode(row[prompt_length:], skip_special_tokens=True)) for row in input_ids]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]

    return _Predicate()


def _generation_config(loaded: LoadedModel, max_new_tokens: int) -> Any:
    from transformers import GenerationConfig

    tokenizer = loaded.tokenizer
    defaults = getattr(loaded.model, "generation_config", None)
    eos = getattr(defaults, "eos_token_id", None) if defaults is not None else None
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=eos if eos is not None else tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _batches(requests: Sequence[GenerationRequest], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches; requests with the same image count go together (processors need that)."""
    by_images: dict[int, list[int]] = {}
    for index, request in enumerate(requests):
        by_images.setdefault(len(request.images), []).append(index)
    batches: list[list[int]] = []
    for indices in by_images.values():
        batches.extend(indices[i : i + batch_size] for i in range(0, len(indices), batch_size))
    return batches


def _validate(loaded: LoadedModel, requests: Sequence[GenerationRequest], max_new_tokens: int) -> None:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    for index, request in enumerate(requests):
        _check_images(loaded, index, request)


def generate_batch(
    loaded: LoadedModel,
    requests: Sequence[GenerationRequest],
    *,
    max_new_tokens: int,
    stop: Sequence[str] = (),
    stop_when: Callable[[str], bool] | None = None,
    batch_size: int = 8,
    progress: Progress | None = None,
    share_prefix: bool = True,
) -> list[str]:
    """Greedy-decode every request, in batches, and return the continuations in request order.

    Args:
        loaded: The model (view) to run.
        requests: Prompts and their images.
        max_new_tokens: Most tokens generated per request.
        stop: Strings that end a sequence early; the returned text is cut *before* the first one.
        stop_when: A predicate on a sequence's continuation so far; the sequence ends (uncut) once it is
            true. Greedy decoding is prefix-consistent, so the text up to that point is exactly what a
            full-length generation would have started with.
        batch_size: Requests per forward pass (left padded).
        progress: Called as ``progress(done, total)`` after each batch.
        share_prefix: Compute the prompt prefix that all requests of a batch share (few-shot demonstrations and
            their images) once and continue every row from its cache; the answers are those of a plain prefill.

    Returns:
        The continuation (prompt excluded) of each request, without special tokens.

    Raises:
        PromptTooLongError: a prompt plus ``max_new_tokens`` does not fit the context.
        PromptError: image tokens and images do not match.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    _validate(loaded, requests, max_new_tokens)
    results: list[str | None] = [None] * len(requests)
    config = _generation_config(loaded, max_new_tokens)
    done = 0
    for indices in _batches(requests, batch_size):
        enc = _encode(loaded, [requests[i] for i in indices])
        _check_length(loaded, indices, enc, max_new_tokens)
        counts = [len(requests[i].images) for i in indices]
        shared = _shared_prefix(loaded, enc, counts) if share_prefix else None
        with loaded.activated() as model, torch.inference_mode():
            inputs = ({**enc, "past_key_values": _growing_cache()} if shared is None
                      else _with_shared_prefix(model, enc, shared, counts, loaded.tokenizer.pad_token_id))
            prompt_length = inputs["input_ids"].shape[1]
            extra: dict[str, Any] = {}
            criteria = []
            if stop:
                criteria.append(_stopping_criteria(loaded, prompt_length, stop))
            if stop_when is not None:
                criteria.append(_predicate_criteria(loaded, prompt_length, stop_when))
            if criteria:
                from transformers import StoppingCriteriaList

                extra["stopping_criteria"] = StoppingCriteriaList(criteria)
            with _attending(model, inputs):
                output = model.generate(**inputs, generation_config=config, **extra)
        for row, index in zip(output[:, prompt_length:], indices, strict=True):
            text = loaded.tokenizer.decode(row, skip_special_tokens=True)
            results[index] = _cut_at_stop(text, stop)[0]
        done += len(indices)
        if progress is not None:
            progress(done, len(requests))
    return [r if r is not None else "" for r in results]


class GenerationStream:
    """Text chunks of one streamed generation, as an iterator; :attr:`stop_reason` is set when it ends.

    Iterate it to get chunks as the model produces them. Closing it early (or
    setting the cancel event) stops the model at its next token.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        request: GenerationRequest,
        *,
        max_new_tokens: int,
        stop: Sequence[str],
        cancel: threading.Event | None,
        time_limit_s: float | None,
    ) -> None:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        _validate(loaded, [request], max_new_tokens)
        self.text = ""
        """Everything yielded so far."""
        self.stop_reason: StopReason | None = None
        """Why generation ended; None while it runs."""
        self._stop = tuple(s for s in stop if s)
        self._cancel = cancel if cancel is not None else threading.Event()
        self._deadline = time.monotonic() + time_limit_s if time_limit_s is not None else math.inf
        self._timed_out = False
        self._error: BaseException | None = None
        self._new_tokens = 0
        self._eos = False
        self._finished = False  # the streamer has delivered its end signal

        enc = _encode(loaded, [request])
        _check_length(loaded, [0], enc, max_new_tokens)
        self._max_new_tokens = max_new_tokens
        self._streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
        stream = self

        class _CancelOrDeadline(StoppingCriteria):
            def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> bool:
                stream._new_tokens += 1
                if time.monotonic() > stream._deadline:
                    stream._timed_out = True
                    return True
                return stream._cancel.is_set()

        config = _generation_config(loaded, max_new_tokens)
        eos_ids = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]

        def run() -> None:
            import torch

            try:
                with loaded.activated() as model, torch.inference_mode():
                    out = model.generate(
                        **enc,
                        generation_config=config,
                        streamer=self._streamer,
                        stopping_criteria=StoppingCriteriaList([_CancelOrDeadline()]),
                    )
                self._eos = bool(out.shape[1] > enc["input_ids"].shape[1] and int(out[0, -1]) in eos_ids)
            except BaseException as exc:  # re-raised in the consumer's thread
                self._error = exc
                self._streamer.end()

        self._thread = threading.Thread(target=run, name=f"stream-{loaded.spec.name}", daemon=True)
        self._thread.start()
        self._chunks: Generator[str, None, None] = self._iterate()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._chunks)

    def close(self) -> None:
        """Stop generating (if still running) and wait for the worker thread."""
        self._cancel.set()
        self._chunks.close()
        self._drain()

    def _drain(self) -> None:
        if not self._finished:
            for _ in self._streamer:
                pass
            self._finished = True
        self._thread.join()

    def _iterate(self) -> Generator[str, None, None]:
        try:
            for chunk in self._streamer:
                if not chunk:
                    continue
                cut, hit = _cut_at_stop(self.text + chunk, self._stop)
                new = cut[len(self.text) :]
                if new:
                    self.text = cut
                    yield new
                if hit:
                    self.stop_reason = "stop_string"
                    self._cancel.set()
                    break
            else:
                self._finished = True
        finally:
            if self.stop_reason is None:
                self._cancel.set()
            self._drain()
        if self._error is not None:
            raise self._error
        if self.stop_reason is None:
            if self._timed_out:
                self.stop_reason = "time_limit"
            elif self._eos:
                self.stop_reason = "eos"
            elif self._new_tokens >= self._max_new_tokens:
                self.stop_reason = "max_new_tokens"
            else:
                self.stop_reason = "cancelled"


def stream_generate(
    loaded: LoadedModel,
    request: GenerationRequest,
    *,
    max_new_tokens: int,
    stop: Sequence[str] = (),
    cancel: threading.Event | None = None,
    time_limit_s: float | None = None,
) -> GenerationStream:
    """Greedy generation streamed as text chunks, for the UI.

    Args:
        loaded: The model (view) to run.
        request: The prompt and its images.
        max_new_tokens: Most tokens generated.
        stop: Strings that end generation; text is cut before the first one.
        cancel: Set it from any thread to stop at the next token.
        time_limit_s: Wall-clock limit in seconds; generation stops at the first token after it.

    Returns:
        An iterator of text chunks (the continuation only) whose ``stop_reason`` says why it ended.
    """
    return GenerationStream(
        loaded, request, max_new_tokens=max_new_tokens, stop=stop, cancel=cancel, time_limit_s=time_limit_s
    )


def _candidate_token_ids(loaded: LoadedModel, prompt: str, candidates: Sequence[str]) -> list[list[int]]:
    """Token ids that begin each candidate right after ``prompt``, with and without a leading space."""
    tokenizer = loaded.tokenizer
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    result: list[list[int]] = []
    for candidate in candidates:
        found: set[int] = set()
        for variant in {candidate, " " + candidate.lstrip()}:
            full = tokenizer(prompt + variant, add_special_tokens=False)["input_ids"]
            if full[: len(prompt_ids)] == prompt_ids and len(full) > len(prompt_ids):
                found.add(int(full[len(prompt_ids)]))
            else:  # the candidate merged with the prompt's last token: fall back to its own first token
                own = tokenizer(variant, add_special_tokens=False)["input_ids"]
                if own:
                    found.add(int(own[0]))
        if not found:
            raise ValueError(f"candidate {candidate!r} encodes to no tokens")
        result.append(sorted(found))
    # A spelling whose first token is shared (e.g. a bare space token before "A" and "B") tells nothing apart: drop it.
    owners: dict[int, set[str]] = {}
    for candidate, ids in zip(candidates, result, strict=True):
        for token in ids:
            owners.setdefault(token, set()).add(candidate)
    distinct = [[t for t in ids if len(owners[t]) == 1] for ids in result]
    for candidate, ids in zip(candidates, distinct, strict=True):
        if not ids:
            raise ValueError(
                f"candidate {candidate!r} starts with the same token as another candidate; scoring compares "
                "first tokens, so use candidates that differ in their first token"
            )
    return distinct


def score_candidates(
    loaded: LoadedModel,
    requests: Sequence[GenerationRequest],
    candidates: Sequence[str] = ("A", "B", "C", "D"),
    *,
    batch_size: int = 8,
    progress: Progress | None = None,
    share_prefix: bool = True,
) -> list[dict[str, float]]:
    """Next-token log-probabilities of each candidate after each prompt (one forward pass per batch).

    A candidate's score is the log of the total probability of the tokens that
    begin it right after the prompt, spelled with or without a leading space
    ("B" and " B" are both ways to answer "ASSISTANT:"). Log-probabilities are
    over the whole vocabulary; normalise over the candidates to compare them.
    A prompt prefix shared by a whole batch is computed once (``share_prefix``, as in :func:`generate_batch`).

    Raises:
        ValueError: two candidates begin with the same token.
        PromptTooLongError: a prompt does not fit the context (plus one token).
    """
    import torch

    if not candidates:
        raise ValueError("score_candidates needs at least one candidate")
    _validate(loaded, requests, 1)
    scores: list[dict[str, float] | None] = [None] * len(requests)
    done = 0
    for indices in _batches(requests, batch_size):
        batch = [requests[i] for i in indices]
        enc = _encode(loaded, batch)
        _check_length(loaded, indices, enc, 1)
        counts = [len(r.images) for r in batch]
        shared = _shared_prefix(loaded, enc, counts) if share_prefix else None
        with loaded.activated() as model, torch.inference_mode():
            if shared is None:
                logits = model(**enc).logits[:, -1, :].float()
            else:
                inputs = _with_shared_prefix(model, enc, shared, counts, loaded.tokenizer.pad_token_id)
                mask = inputs["attention_mask"]
                positions = (mask.long().cumsum(-1) - 1).clamp(min=0)  # each row's own positions, padding skipped
                with _attending(model, inputs):
                    logits = model(input_ids=inputs["input_ids"][:, shared.length :], attention_mask=mask,
                                   position_ids=positions[:, shared.length :],
                                   past_key_values=inputs["past_key_values"], pixel_values=inputs.get("pixel_values"),
                                   logits_to_keep=1).logits[:, -1, :].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        for row, index, request in zip(logprobs, indices, batch, strict=True):
            token_ids = _candidate_token_ids(loaded, request.prompt, candidates)
            scores[index] = {
                candidate: float(torch.logsumexp(row[ids], dim=0))
                for candidate, ids in zip(candidates, token_ids, strict=True)
            }
        done += len(indices)
        if progress is not None:
            progress(done, len(requests))
    return [s if s is not None else {} for s in scores]
