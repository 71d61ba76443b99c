"""Evaluate a model in memory with the project's runner (:mod:`probes.runner`).

The full command line is ``python -m probes.evaluate``; this module lets the
unlearning package check its own checkpoints (the demo build's summary, the
end-to-end test) without saving and reloading: :class:`TransformersResponder`
is a minimal greedy-decoding responder over a loaded model and processor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from probes.protocols import ChatMessage, PromptStyle, Protocol
from probes.runner import Request, RunConfig, decode_images, run
from probes.schema import LETTERS, Benchmark, EvalSet, Modality, Task


class TransformersResponder:
    """Greedy decoding with a Hugging Face vision-language model, batched with left padding."""

    prompt_style: PromptStyle = "llava"

    def __init__(self, model: Any, processor: Any, *, device: str = "cpu") -> None:
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.device = device

    def _encode(self, requests: Sequence[Request]) -> Any:
        images = [img for r in requests for img in decode_images(r.images)]
        kwargs: dict[str, Any] = {"text": [r.prompt for r in requests], "return_tensors": "pt", "padding": True}
        if images:
            kwargs["images"] = images
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            return self.processor(**kwargs).to(self.device)
        finally:
            self.tokenizer.padding_side = side

    def generate(self, requests: Sequence[Request], *, max_new_tokens: int, first_char_only: bool) -> list[str]:
        """Greedy continuations without the prompt (special tokens dropped)."""
        import torch

        enc = self._encode(requests)
        with torch.no_grad():
            out = self.model.generate(
                **enc,
                do_sample=False,
                max_new_tokens=max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        return [str(t) for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]

    def letter_logprobs(self, requests: Sequence[Request]) -> list[dict[str, float]]:
        """Next-token log-probabilities of the letters (their first token, with and without a space)."""
        import torch

        enc = self._encode(requests)
        with torch.no_grad():
            logp = torch.log_softmax(self.model(**enc).logits[:, -1, :].float(), dim=-1)
        ids = {x: self.tokenizer(x, add_special_tokens=False)["input_ids"][0] for x in LETTERS}
        return [{x: float(row[i]) for x, i in ids.items()} for row in logp]

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The processor's chat template applied to ``messages``, opening the assistant's turn."""
        return str(self.processor.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False))


HEADLINE: tuple[tuple[Task, str], ...] = (
    (Task.CLASSIFICATION, "accuracy"),
    (Task.GENERATION, "rougeL"),
    (Task.CLOZE, "accuracy"),
)
"""The figures :func:`summarise` reports: multiple-choice accuracy (%), generation ROUGE-L (0-1), cloze accuracy (%)."""


def evaluate(
    model: Any,
    processor: Any,
    benchmark: Benchmark,
    out_dir: Path,
    *,
    name: str,
    forget_ratio: int = 10,
    sets: Iterable[EvalSet] = (EvalSet.FORGET, EvalSet.RETAIN),
    protocol: Protocol = "official",
    seed: int = 0,
    limit: int | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[str, float]:
    """Run the benchmark on an in-memory model; returns :func:`summarise`'s flat figures."""
    from probes.protocols import PROTOCOL_VERSIONS

    config = RunConfig(
        name=name,
        model=name,
        data=benchmark.source,
        dataset_fingerprint=benchmark.fingerprint,
        forget_ratio=forget_ratio,
        protocol=protocol,
        protocol_version=PROTOCOL_VERSIONS[protocol],
        sets=tuple(s for s in EvalSet if s in set(sets)),
        seed=seed,
        limit=limit,
        prompt_style="llava",
    )
    output = run(config, benchmark, TransformersResponder(model, processor), out_dir, batch_size=batch_size,
                 progress=progress)
    return summarise(output.records)


def summarise(records: Iterable[Any]) -> dict[str, float]:
    """``{"forget/classification/image_text": 62.5, ...}``: each :data:`HEADLINE` cell on its metric's scale."""
    from probes.results import aggregate

    cells = aggregate(records)
    out: dict[str, float] = {}
    for key, value in cells.items():
        for task, metric in HEADLINE:
            if key.task is task and key.metric == metric:
                out[f"{key.eval_set.value}/{task.value}/{key.modality.value}"] = value.value
    return out


def format_summary(figures: dict[str, float]) -> str:
    """A small text table of :func:`summarise`'s figures (rows: set, columns: task x modality)."""
    cols = [(t, m) for t, _ in HEADLINE for m in Modality]
    head = "set        " + "".join(f"{t.value[:5] + '/' + m.value:<17}" for t, m in cols)
    lines = [head]
    for s in EvalSet:
        cells = [figures.get(f"{s.value}/{t.value}/{m.value}") for t, m in cols]
        if all(c is None for c in cells):
            continue
        texts = [
            "-" if c is None else f"{c:.3f}" if t is Task.GENERATION else f"{c:.1f}"
            for c, (t, _) in zip(cells, cols, strict=True)
        ]
        lines.append(f"{s.value:<11}" + "".join(f"{x:<17}" for x in texts))
    return "\n".join(lines)
