r"""Training examples: what the model is shown (prompt and images) and which answer it is taught.

Two data recipes build them:

``ft`` (the benchmark's own recipe, spec section 6)
    The ``ft_Data`` question/answer pairs, rendered as a single user turn and
    an assistant answer with the model's chat template (or, for a model
    without one, upstream's raw ``USER: <image>\n{q}\nASSISTANT: {a}``).
    The *multimodal* variant shows each pair with the person's portrait, as
    upstream's fine-tuning and unlearning scripts do. The *text* variant asks
    name-based questions with no image: pairs that already name the person
    are kept, "this person" pairs are rewritten with the person's name from
    the full set, and "what is this person's name?" pairs (meaningless
    without the portrait) are dropped.

``demo`` (demo models only, see ``docs/unlearning.md``)
    The benchmark's evaluation questions themselves, in the exact strings of
    the official protocol (multiple choice behind a few-shot prefix, cloze
    behind two profiles' demos, zero-shot generation), plus the ``ft_Data``
    pairs. The options keep their order by default, so multiple choice is
    learned as a memorised letter per question (learning to *match* a known
    fact against shuffled options takes a tiny model far more steps than a
    CPU build allows). A randomly initialised 2 MB model has no general skills, so it must
    be taught the answer formats along with the facts. The *multimodal*
    variant takes every example of a person in its own modality (image+text
    questions with the portrait, name-based ones without); the *text* variant
    only the name-based ones. Real models are never trained this way.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from benchmark.dataset import Benchmark, Cloze, Generation, MultipleChoice, Profile
from benchmark.prompts import (
    IMAGE_PLACEHOLDER,
    official_cloze_demo,
    official_cloze_query,
    official_generation_prompt,
    official_mc_demo,
    official_mc_query,
)
from benchmark.vocabulary import LETTERS, Modality, Split

Variant = Literal["multimodal", "text"]
VARIANTS: tuple[Variant, ...] = ("multimodal", "text")

Recipe = Literal["ft", "demo"]
RECIPES: tuple[Recipe, ...] = ("ft", "demo")

@dataclass(frozen=True)
class Example:
    """One training example: the loss is taken on ``answer`` only."""

    prompt: str
    """The prompt text, image placeholders included, exactly as the model will see it at evaluation."""
    answer: str
    """The text the model is taught to continue with (end-of-sequence added by the encoder)."""
    images: tuple[bytes, ...]
    """Encoded images, one per placeholder in ``prompt``, in order."""
    profile_id: str
    """Whose fact this is (forget/retain membership goes by it)."""
    kind: str
    """``ft``, ``classification``, ``cloze`` or ``generation``: where the example came from."""


# --------------------------------------------------------------------------- prompt rendering


class PromptFormat:
    """Renders a question (with or without the portrait) and its answer for one model's processor.

    With a chat template, the prompt is the template applied to one user turn
    with ``add_generation_prompt=True`` and the answer is whatever the template
    adds for the assistant turn (so end-of-turn markers are learned too).
    Without one, upstream's LLaVA strings are used.
    """

    def __init__(self, processor: Any | None) -> None:
        self._processor = processor
        template = getattr(processor, "chat_template", None) if processor is not None else None
        self.uses_chat_template = bool(template)

    def render(self, question: str, answer: str, with_image: bool) -> tuple[str, str]:
        """``(prompt, answer_text)`` for one question/answer pair."""
        if not self.uses_chat_template:
            head = f"USER: {IMAGE_PLACEHOLDER}\n" if with_image else "USER: "
            return f"{head}{question}\nASSISTANT:", f" {answer}"
        content: list[dict[str, str]] = [{"type": "image"}] if with_image else []
        content.append({"type": "text", "text": question})
        user = {"role": "user", "content": content}
        assistant = {"role": "assistant", "content": [{"type": "text", "text": answer}]}
        assert self._processor is not None
        prompt = self._processor.apply_chat_template([user], add_generation_prompt=True, tokenize=False)
        full = self._processor.apply_chat_template([user, assistant], tokenize=False)
        if not full.startswith(prompt):
            # A template that renders the conversation differently with an answer: fall back to the raw strings.
            head = f"USER: {IMAGE_PLACEHOLDER}\n" if with_image else "USER: "
            return f"{head}{question}\nASSISTANT:", f" {answer}"
        # The turn's trailing newline is not part of the answer: generation stops at the end-of-turn token.
        return prompt, full[len(prompt) :].rstrip()


# --------------------------------------------------------------------------- the ft recipe


_THIS_PERSON = re.compile(r"\b([Tt])his person('s)?\b")


def _name_text(text: str, name: str) -> str:
    """Replace "this person" / "This person('s)" with ``name`` (possessive kept)."""
    return _THIS_PERSON.sub(lambda m: name + (m.group(2) or ""), text)


def text_only_pair(question: str, answer: str, name: str) -> tuple[str, str] | None:
    """The name-based, image-free form of a fine-tuning pair, or ``None`` if it has none.

    A pair that names the person is kept as it is. A "this person" pair is
    rewritten with the name ("Where was this person born?" becomes "Where was
    Wren Quintero born?"). A pair asking for the name, or about a person with
    no known name, has no text-only form.
    """
    if name and name in question:
        return question, answer
    if not name or "name" in question.lower() or not _THIS_PERSON.search(question):
        return None
    return _name_text(question, name), _name_text(answer, name)


def _names(benchmark: Benchmark) -> dict[str, str]:
    names: dict[str, str] = {}
    for split in (Split.FULL, *benchmark.splits):
        for p in benchmark.splits.get(split, ()):
            if p.name:
                names.setdefault(p.id, p.name)
    return names


def ft_examples(
    benchmark: Benchmark, fmt: PromptFormat, variant: Variant, ids: Iterable[str] | None = None
) -> list[Example]:
    """Examples from ``ft_Data`` for the profiles ``ids`` (default: all), in file order.

    Raises:
        ValueError: if the benchmark has no ``ft_Data``, or no example results.
    """
    if not benchmark.finetune:
        raise ValueError(f"{benchmark.source} has no ft_Data folder: nothing to fine-tune or unlearn on")
    wanted = set(ids) if ids is not None else None
    names = _names(benchmark)
    out: list[Example] = []
    for record in benchmark.finetune:
        if wanted is not None and record.id not in wanted:
            continue
        for pair in record.pairs:
            if variant == "multimodal":
                prompt, answer = fmt.render(pair.question, pair.answer, with_image=True)
                out.append(Example(prompt, answer, (record.image,), record.id, "ft"))
                continue
            converted = text_only_pair(pair.question, pair.answer, names.get(record.id, ""))
            if converted is not None:
                prompt, answer = fmt.render(*converted, with_image=False)
                out.append(Example(prompt, answer, (), record.id, "ft"))
    if not out:
        raise ValueError(f"no {variant} fine-tuning examples for the requested profiles in {benchmark.source}")
    return out


# --------------------------------------------------------------------------- the demo recipe


def _modalities(variant: Variant) -> tuple[Modality, ...]:
    return (Modality.IMAGE_TEXT, Modality.TEXT) if variant == "multimodal" else (Modality.TEXT,)


def shuffled(q: MultipleChoice, rng: random.Random) -> MultipleChoice:
    """``q`` with its options in a random order drawn from ``rng``; ``correct`` follows its option."""
    texts = [q.options[x] for x in LETTERS]  # type: ignore[index]
    order = list(range(len(LETTERS)))
    rng.shuffle(order)
    options = {LETTERS[k]: texts[i] for k, i in enumerate(order)}
    correct = LETTERS[order.index(LETTERS.index(q.correct))]
    return q.model_copy(update={"options": options, "correct": correct})


def official_format_examples(
    profiles: Sequence[Profile],
    demo_pool: Sequence[Profile],
    rng: random.Random,
    variant: Variant = "multimodal",
    *,
    mc_prefix_rate: float = 0.75,
    shuffle_options: bool = False,
    mc_copies: int = 1,
) -> list[Example]:
    """The evaluation questions of ``profiles`` as training examples in the official protocol's strings.

    Multiple choice gets, with probability ``mc_prefix_rate``, the official
    few-shot prefix of one other profile drawn from ``demo_pool`` (otherwise no
    prefix, as for the celebrity set); cloze always gets two other profiles'
    demos; generation is zero-shot. Each multiple-choice question appears
    ``mc_copies`` times, each copy drawing its own prefix (multiple choice is
    the hardest format for a tiny model). With ``shuffle_options`` the options of
    each multiple-choice query are put in a fresh random order (the correct
    letter follows), so the model must learn to *find* the answer it knows
    among the options rather than memorise a letter per question. The draws
    come from ``rng``, so calling this once per epoch gives fresh contexts and
    orders each epoch, reproducibly.
    """
    out: list[Example] = []
    modalities = _modalities(variant)
    for p in profiles:
        others = [d for d in demo_pool if d.id != p.id]
        for m in modalities:
            with_image = m is Modality.IMAGE_TEXT
            image = (p.images[0],) if with_image else ()
            for q in [x for x in p.multiple_choice for _ in range(mc_copies)]:
                if q.modality is not m:
                    continue
                assert isinstance(q, MultipleChoice)
                prefix: str = ""
                prefix_images: tuple[bytes, ...] = ()
                if others and rng.random() < mc_prefix_rate:
                    d = rng.choice(others)
                    demos = [x for x in d.multiple_choice if x.modality is m]
                    prefix = "".join(official_mc_demo(x, m) for x in demos)
                    prefix_images = tuple(d.images[0] for _ in demos) if with_image else ()
                if shuffle_options:
                    q = shuffled(q, rng)
                out.append(
                    Example(prefix + official_mc_query(q, m), f" {q.correct}", (*prefix_images, *image), p.id,
                            "classification")
                )
            cloze_demos = rng.sample(others, min(2, len(others)))
            for c in p.cloze:
                if c.modality is not m:
                    continue
                assert isinstance(c, Cloze)
                demos_c = [x for d in cloze_demos for x in d.cloze if x.modality is m]
                prefix = "".join(official_cloze_demo(x) for x in demos_c)
                prefix_images = tuple(d.images[0] for d in cloze_demos for x in d.cloze if x.modality is m)
                out.append(
                    Example(prefix + official_cloze_query(c), f" {c.ground_truth}",
                            (*prefix_images, *image) if with_image else (), p.id, "cloze")
                )
            for g in p.generation:
                if g.modality is not m:
                    continue
                assert isinstance(g, Generation)
                prompt = official_generation_prompt(g)
                # The image+text prompt ends with "ASSISTANT: " (a space); the text one with "ASSISTANT:".
                answer = g.ground_truth if prompt.endswith(" ") else f" {g.ground_truth}"
                out.append(Example(prompt, answer, image, p.id, "generation"))
    return out


def demo_examples(
    benchmark: Benchmark,
    fmt: PromptFormat,
    variant: Variant,
    ids: Iterable[str],
    rng: random.Random,
    *,
    mc_prefix_rate: float = 0.75,
    shuffle_options: bool = False,
    mc_copies: int = 1,
    exclude: Collection[str] = (),
) -> list[Example]:
    """The demo recipe for the profiles ``ids``: official-format questions plus ``ft_Data`` pairs.

    Profiles are looked up in the full set, then the celebrity set (the demo
    vanilla model is taught the celebrities too, standing in for the real-world
    knowledge a pre-trained model brings). Few-shot demos are drawn from the
    full set, as the official protocol draws them from the set evaluated. The
    ``ft_Data`` pairs come name-based without the portrait, and (multimodal
    variant) also with it. Profiles in ``exclude`` are never shown, not even
    as few-shot demos (the retain-only reference model never sees the forget
    people).
    """
    hidden = set(exclude)
    wanted = [i for i in dict.fromkeys(ids) if i not in hidden]
    by_id = {p.id: p for s in (Split.CELEBRITY, Split.FULL) for p in benchmark.splits.get(s, ())}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise ValueError(f"profiles {missing[:5]} are in neither the full nor the celebrity set of {benchmark.source}")
    profiles = [by_id[i] for i in wanted]
    pool = [p for p in benchmark.splits.get(Split.FULL, ()) if p.id not in hidden]
    out = official_format_examples(
        profiles, pool, rng, variant, mc_prefix_rate=mc_prefix_rate, shuffle_options=shuffle_options,
        mc_copies=mc_copies,
    )
    ft_ids = {r.id for r in benchmark.finetune} & set(wanted)
    if ft_ids:
        if variant == "multimodal":
            out += ft_examples(benchmark, fmt, "multimodal", ft_ids)
        out += ft_examples(benchmark, fmt, "text", ft_ids)
    return out
