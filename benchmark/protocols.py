"""The two evaluation protocols: what is asked, with which prompt, and how it is decoded.

``official`` reproduces upstream ``eval.py`` (spec section 3): its exact
``USER: ... ASSISTANT:`` strings, few-shot demos sampled from the set being
evaluated (one profile for multiple choice, two for cloze with LLaVA-style
models, one with Idefics2), demos looked up in the full set (so the celebrity
set gets none), the demo profile's own questions skipped, greedy decoding with
50 new tokens, and a random test-set image per profile and task. Upstream has
no seed; ours is seeded and recorded, so a run is repeatable.

``strict`` fixes the defects of spec section 4: seeded; demos from a fixed pool
of invented profiles that belong to no evaluated set; multiple choice scored
from the next-token log-probabilities of the letters A-D (no parsing); the
model's own chat template for every prompt.

Planning is pure: :func:`plan` turns a benchmark, a forget ratio and a
protocol into :class:`Item`s; the runner executes them.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmark.dataset import Benchmark, Cloze, MultipleChoice, Profile, Question
from benchmark.prompts import (
    MAX_NEW_TOKENS,
    STRICT_MC_INSTRUCTION,
    ChatTurn,
    assistant,
    cloze_text,
    generation_text,
    official_cloze_demo,
    official_cloze_query,
    official_generation_prompt,
    official_mc_demo,
    official_mc_query,
    options_block,
    user,
)
from benchmark.strict_pool import strict_pool
from benchmark.vocabulary import EvalSet, Modality, PromptStyle, Protocol, Split, Task


@dataclass(frozen=True)
class Item:
    """One question to put to the model, fully specified."""

    key: str
    """Stable identity ``set/task/modality/profile/index``: what resuming and sharding go by."""
    eval_set: EvalSet
    task: Task
    modality: Modality
    profile_id: str
    question_index: int
    """Index of the question within the profile's questions of this task (upstream order)."""
    question: Question
    images: tuple[bytes, ...]
    """Encoded images in the order the prompt's image placeholders use them (demos first)."""
    image_index: int | None
    """Which of the profile's portraits is the query image (test set: the random draw)."""
    prompt: str | None = None
    """The raw prompt string (official protocol)."""
    messages: tuple[ChatTurn, ...] = field(default=())
    """Chat turns to render with the model's chat template (strict protocol)."""
    score_letters: bool = False
    """Strict multiple choice: read the letters' next-token log-probabilities instead of generating."""
    max_new_tokens: int = MAX_NEW_TOKENS
    shared: int = 0
    """Length of the few-shot block the prompt starts with (characters of ``prompt``, or turns of ``messages``);
    every question of one set, task and modality starts with the same block, so a model can compute it once."""

    @property
    def reference(self) -> str:
        """The correct letter, or the ground truth."""
        return self.question.reference


# --------------------------------------------------------------------------- planning


def _query_image(rng: random.Random, profile: Profile) -> tuple[bytes, int]:
    index = rng.randrange(len(profile.images)) if len(profile.images) > 1 else 0
    return profile.images[index], index


def _key(s: EvalSet, t: Task, m: Modality, pid: str, i: int) -> str:
    return f"{s.value}/{t.value}/{m.value}/{pid}/{i}"


def _rng(seed: int, s: EvalSet, t: Task) -> random.Random:
    # One stream per (set, task): a run of some sets plans them exactly as a run of all.
    return random.Random(f"{seed}/{s.value}/{t.value}")


IDEFICS2_TEXT_MC_TOKENS = 5
"""Upstream's ``max_new_tokens`` for Idefics2's text-only multiple choice (every other question: 50)."""


def official_token_limits(style: PromptStyle | str) -> dict[str, int]:
    """The official protocol's per-question token limits that differ from 50, as ``task/modality -> tokens``."""
    if PromptStyle(style) is PromptStyle.IDEFICS2:
        return {f"{Task.CLASSIFICATION.value}/{Modality.TEXT.value}": IDEFICS2_TEXT_MC_TOKENS}
    return {}


def _demo_profiles(rng: random.Random, ids: Sequence[str], k: int, full: dict[str, Profile]) -> list[Profile]:
    """``k`` demo profiles sampled from ``ids``, in Full_Set's row order, as upstream takes them.

    Upstream looks the drawn IDs up in Full_Set with pandas' ``isin``, which keeps Full_Set's order, not the
    order they were drawn in. Official 1.0 kept the draw order, so about half of all two-profile cloze
    prefixes came out reversed; 1.1 follows upstream.
    """
    drawn = set(rng.sample(list(ids), min(k, len(ids))))
    return [profile for pid, profile in full.items() if pid in drawn]


def _warn_if_upstream_would_ask(s: EvalSet, task: Task, demo_profiles: Sequence[Profile],
                                profiles: Sequence[Profile]) -> None:
    """Warn when upstream's skip-by-index would ask a question of a demo profile that the plan skips whole.

    Upstream skips a demo profile's question when its index is one its Full_Set row's demos used (multiple
    choice: the index within that modality's list; cloze: the position in ``Mask_Task``, by ``Type``); the
    plan skips every question of the profile. The two agree whenever the evaluated row (a Test_Set row's
    paraphrases, say) has no more questions of a modality than its Full_Set row, in the same ``Type`` positions:
    the real layout's 5 + 5, 2 + 2 and 2 + 2 (tests/benchmark/test_skipping.py). Only other data can differ.
    """
    evaluated = {p.id: p for p in profiles}
    for demo in demo_profiles:
        row = evaluated.get(demo.id)
        if row is None:
            continue
        if task is Task.CLASSIFICATION:
            extra = sum(max(0, len(row.questions(task, m)) - len(demo.questions(task, m))) for m in Modality)
        else:
            used = [q.modality for q in demo.questions(task)]
            extra = sum(1 for i, q in enumerate(row.questions(task)) if i >= len(used) or used[i] is not q.modality)
        if extra:
            warnings.warn(
                f"official plan, {s.value} set, {task.value}: upstream's eval.py, which skips a demo profile's "
                f"questions by index, would ask {extra} question(s) of demo profile {demo.id!r} (its row here has "
                f"more, or other Types at those places, than its Full_Set row); this plan skips the whole profile",
                stacklevel=4,
            )


def _official(
    s: EvalSet, profiles: Sequence[Profile], full: dict[str, Profile], seed: int, style: PromptStyle
) -> list[Item]:
    items: list[Item] = []
    ids = [p.id for p in profiles]

    # Multiple choice: one demo profile; demos only outside the celebrity set.
    rng = _rng(seed, s, Task.CLASSIFICATION)
    demo_profiles = _demo_profiles(rng, ids, 1, full)
    _warn_if_upstream_would_ask(s, Task.CLASSIFICATION, demo_profiles, profiles)
    for modality in Modality:
        demos = [q for d in demo_profiles for q in d.questions(Task.CLASSIFICATION, modality)]
        use_demos = s is not EvalSet.CELEBRITY
        prefix = "".join(official_mc_demo(q, modality) for q in demos) if use_demos else ""  # type: ignore[arg-type]
        demo_images = tuple(d.images[0] for d in demo_profiles for _ in d.questions(Task.CLASSIFICATION, modality))
        skip = {d.id for d in demo_profiles}
        tokens = official_token_limits(style).get(f"{Task.CLASSIFICATION.value}/{modality.value}", MAX_NEW_TOKENS)
        for p in profiles:
            image, idx = _query_image(rng, p) if modality is Modality.IMAGE_TEXT else (b"", None)
            if p.id in skip:
                continue
            for i, q in enumerate(p.multiple_choice):
                if q.modality is not modality:
                    continue
                assert isinstance(q, MultipleChoice)
                imgs = ((*demo_images, image) if use_demos else (image,)) if modality is Modality.IMAGE_TEXT else ()
                items.append(
                    Item(
                        _key(s, Task.CLASSIFICATION, modality, p.id, i),
                        s,
                        Task.CLASSIFICATION,
                        modality,
                        p.id,
                        i,
                        q,
                        imgs,
                        idx,
                        prompt=prefix + official_mc_query(q, modality),
                        max_new_tokens=tokens,
                        shared=len(prefix),
                    )
                )

    # Cloze: two demo profiles (one for Idefics2), demos for every set.
    rng = _rng(seed, s, Task.CLOZE)
    k = 1 if style is PromptStyle.IDEFICS2 else 2
    demo_profiles = _demo_profiles(rng, ids, k, full)
    _warn_if_upstream_would_ask(s, Task.CLOZE, demo_profiles, profiles)
    skip = {d.id for d in demo_profiles}
    prefixes = {
        m: "".join(official_cloze_demo(q) for d in demo_profiles for q in d.cloze if q.modality is m) for m in Modality
    }
    demo_images = tuple(d.images[0] for d in demo_profiles for _ in d.questions(Task.CLOZE, Modality.IMAGE_TEXT))
    for p in profiles:
        image, idx = _query_image(rng, p)
        if p.id in skip:
            continue
        for i, cz in enumerate(p.cloze):
            is_image = cz.modality is Modality.IMAGE_TEXT
            items.append(
                Item(
                    _key(s, Task.CLOZE, cz.modality, p.id, i),
                    s,
                    Task.CLOZE,
                    cz.modality,
                    p.id,
                    i,
                    cz,
                    (*demo_images, image) if is_image else (),
                    idx if is_image else None,
                    prompt=prefixes[cz.modality] + official_cloze_query(cz),
                    shared=len(prefixes[cz.modality]),
                )
            )

    # Generation: zero-shot.
    rng = _rng(seed, s, Task.GENERATION)
    for p in profiles:
        image, idx = _query_image(rng, p)
        for i, g in enumerate(p.generation):
            is_image = g.modality is Modality.IMAGE_TEXT
            items.append(
                Item(
                    _key(s, Task.GENERATION, g.modality, p.id, i),
                    s,
                    Task.GENERATION,
                    g.modality,
                    p.id,
                    i,
                    g,
                    (image,) if is_image else (),
                    idx if is_image else None,
                    prompt=official_generation_prompt(g),
                )
            )
    return items


# ---- strict


STRICT_MC_SHOTS = 3
STRICT_CLOZE_SHOTS = 2


def _strict(s: EvalSet, profiles: Sequence[Profile], pool: Sequence[Profile], seed: int) -> list[Item]:
    items: list[Item] = []
    for modality in Modality:
        is_image = modality is Modality.IMAGE_TEXT
        mc_demos = [(d, q) for d in pool for q in d.questions(Task.CLASSIFICATION, modality)][:STRICT_MC_SHOTS]
        mc_turns: list[ChatTurn] = []
        for _, q in mc_demos:
            assert isinstance(q, MultipleChoice)
            mc_turns += [user(f"{options_block(q)}\n{STRICT_MC_INSTRUCTION}", with_image=is_image),
                         assistant(q.correct)]
        mc_images = tuple(d.images[0] for d, _ in mc_demos) if is_image else ()
        cz_demos = [(d, q) for d in pool for q in d.questions(Task.CLOZE, modality)][:STRICT_CLOZE_SHOTS]
        cz_turns: list[ChatTurn] = []
        for _, q in cz_demos:
            assert isinstance(q, Cloze)
            cz_turns += [user(cloze_text(q), with_image=is_image), assistant(q.ground_truth)]
        cz_images = tuple(d.images[0] for d, _ in cz_demos) if is_image else ()
        for task in Task:
            rng = _rng(seed, s, task)
            for p in profiles:
                image, idx = _query_image(rng, p)
                for i, q in enumerate(p.questions(task)):
                    if q.modality is not modality:
                        continue
                    key = _key(s, task, modality, p.id, i)
                    query_imgs = (image,) if is_image else ()
                    extra: dict[str, Any] = {}
                    if isinstance(q, MultipleChoice):
                        query = user(f"{options_block(q)}\n{STRICT_MC_INSTRUCTION}", with_image=is_image)
                        turns, demo_imgs = (*mc_turns, query), mc_images
                        extra = {"score_letters": True, "max_new_tokens": 1, "shared": len(mc_turns)}
                    elif isinstance(q, Cloze):
                        turns, demo_imgs = (*cz_turns, user(cloze_text(q), with_image=is_image)), cz_images
                        extra = {"shared": len(cz_turns)}
                    else:
                        turns, demo_imgs = (user(generation_text(q), with_image=is_image),), ()
                    items.append(Item(key, s, task, modality, p.id, i, q, (*demo_imgs, *query_imgs),
                                      idx if is_image else None, messages=turns, **extra))
    return items


def plan(
    benchmark: Benchmark,
    forget_ratio: int,
    protocol: Protocol | str,
    *,
    sets: Iterable[EvalSet] = tuple(EvalSet),
    seed: int = 0,
    style: PromptStyle | str = PromptStyle.LLAVA,
) -> list[Item]:
    """Every question to ask for ``protocol`` on ``sets``, in a fixed order.

    Args:
        benchmark: The loaded benchmark (needs the full split for official few-shot demos).
        forget_ratio: 5, 10 or 15.
        protocol: ``official`` or ``strict``.
        sets: Which evaluation sets to plan (default: all four).
        seed: Seeds every random choice (demo profiles, test-set images).
        style: The model's prompt style; decides the number of official cloze demo profiles.
    """
    protocol, style = Protocol(protocol), PromptStyle(style)
    full = {p.id: p for p in benchmark.splits.get(Split.FULL, ())}
    pool = strict_pool() if protocol is Protocol.STRICT else ()
    evaluated = {p.id for s in EvalSet for p in _profiles_or_empty(benchmark, s, forget_ratio)}
    if any(p.id in evaluated for p in pool):
        raise ValueError("the strict demo pool overlaps an evaluated set")
    items: list[Item] = []
    for s in EvalSet:
        if s not in set(sets):
            continue
        profiles = benchmark.eval_profiles(s, forget_ratio)
        if protocol is Protocol.OFFICIAL:
            items += _official(s, profiles, full, seed, style)
        else:
            items += _strict(s, profiles, pool, seed)
    return items


def _profiles_or_empty(benchmark: Benchmark, s: EvalSet, ratio: int) -> tuple[Profile, ...]:
    try:
        return benchmark.eval_profiles(s, ratio)
    except KeyError:
        return ()
