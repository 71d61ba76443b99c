"""The runner's :class:`~probes.runner.Responder` over a real model loaded by :mod:`backend`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.loading import ModelLoadError
from probes.protocols import ChatMessage, PromptStyle
from probes.results import ASSISTANT
from probes.runner import Request, decode_images
from probes.schema import LETTERS
from probes.submission import ModelInfo

if TYPE_CHECKING:
    from backend.loading import LoadedModel

__all__ = ["BackendResponder", "ModelLoadError", "load_responder"]


def first_char_decided(continuation: str) -> bool:
    """Whether a multiple-choice continuation's scored first character is final.

    Upstream scores the first character of the answer, which is the continuation
    cut before a following ``ASSISTANT:`` and stripped. That character is final
    once the stripped text is non-empty and can no longer be the start of
    ``ASSISTANT:`` (which would make the answer empty instead).
    """
    text = continuation.lstrip()
    return bool(text) and not ASSISTANT.startswith(text)


class BackendResponder:
    """Answers the runner's requests with a loaded vision-language model.

    Generation stops at upstream's answer delimiter ``ASSISTANT:`` (the answer
    is cut there anyway, so stopping early changes no score) and, for the
    official multiple choice, as soon as the scored first character is decided
    (:func:`first_char_decided`).
    """

    def __init__(self, loaded: LoadedModel, *, batch_size: int = 8) -> None:
        self.loaded = loaded
        self.batch_size = batch_size

    @property
    def prompt_style(self) -> PromptStyle:
        """The registry entry's prompt style."""
        return str(self.loaded.spec.prompt_style.value)  # type: ignore[return-value]

    @property
    def has_chat_template(self) -> bool:
        """Whether the processor carries a chat template (the strict protocol needs one)."""
        return bool(getattr(self.loaded.processor, "chat_template", None))

    def _requests(self, requests: Sequence[Request]) -> list[Any]:
        from backend.generation import GenerationRequest

        return [GenerationRequest(r.prompt, tuple(decode_images(r.images))) for r in requests]

    def generate(self, requests: Sequence[Request], *, max_new_tokens: int, first_char_only: bool) -> list[str]:
        """Greedy continuations, cut before ``ASSISTANT:``."""
        from backend.generation import generate_batch

        return generate_batch(self.loaded, self._requests(requests), max_new_tokens=max_new_tokens,
                              stop=(ASSISTANT,), stop_when=first_char_decided if first_char_only else None,
                              batch_size=self.batch_size)

    def letter_logprobs(self, requests: Sequence[Request]) -> list[dict[str, float]]:
        """Next-token log-probabilities of A-D (either spelling, with or without a leading space)."""
        from backend.generation import score_candidates

        return score_candidates(self.loaded, self._requests(requests), LETTERS, batch_size=self.batch_size)

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        """Render HF-format chat turns with the model's chat template."""
        from backend.generation import ChatMessage as Turn
        from backend.generation import chat_prompt

        turns = [
            Turn(m["role"], "".join(c["text"] for c in m["content"] if c["type"] == "text"),
                 images=sum(c["type"] == "image" for c in m["content"]))
            for m in messages
        ]
        return chat_prompt(self.loaded, turns)


def root_model(registry: Any, spec: Any) -> str:
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


def load_responder(
    model: str,
    *,
    revision: str | None = None,
    registry: Path | None = None,
    quantize: str = "auto",
    device: str | None = None,
    batch_size: int = 8,
) -> tuple[BackendResponder, ModelInfo]:
    """Load ``model`` (a registry name, a local folder or a Hub id) and describe it for the submission.

    Raises:
        ModelLoadError: the model cannot be found or loaded; the message says why.
    """
    from backend.loading import load_model
    from backend.registry import ModelSpec, UnknownModelError, load_registry

    reg = load_registry(registry)
    try:
        spec = reg.get(model)
        if revision is not None:
            spec = spec.model_copy(update={"revision": revision})
    except UnknownModelError:
        spec = ModelSpec.adhoc(model, revision=revision)
    loaded = load_model(spec, quantize=quantize, device=device, registry=reg)  # type: ignore[arg-type]
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
    return BackendResponder(loaded, batch_size=batch_size), info
