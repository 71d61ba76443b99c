"""Training examples: prompt formats, the text variant, option shuffling, and token-exact encoding."""

from __future__ import annotations

import random

import pytest
import torch

from benchmark.prompts import official_mc_query
from benchmark.vocabulary import Modality, Split
from unlearning.examples import (
    PromptFormat,
    demo_examples,
    ft_examples,
    official_format_examples,
    shuffled,
    text_only_pair,
)
from unlearning.losses import IGNORE_INDEX
from unlearning.training import Encoder


def test_text_only_pairs_name_the_person_and_drop_name_questions():
    name = "Wren Quintero"
    assert text_only_pair("Where was Wren Quintero born?", "Riga.", name) == ("Where was Wren Quintero born?", "Riga.")
    assert text_only_pair("Where was this person born?", "This person was born in Riga.", name) == (
        "Where was Wren Quintero born?",
        "Wren Quintero was born in Riga.",
    )
    assert text_only_pair("What color is this person's shirt?", "This person's shirt is red.", name) == (
        "What color is Wren Quintero's shirt?",
        "Wren Quintero's shirt is red.",
    )
    assert text_only_pair("What is this person's name?", "This person is Wren Quintero.", name) is None
    assert text_only_pair("Where was this person born?", "Riga.", "") is None


def test_ft_examples_multimodal_and_text(bench, tiny):
    _, processor = tiny
    fmt = PromptFormat(processor)
    record = bench.finetune[0]
    mm = ft_examples(bench, fmt, "multimodal", [record.id])
    assert len(mm) == len(record.pairs)
    assert all(e.images == (record.image,) and e.prompt.count("<image>") == 1 for e in mm)
    assert mm[0].prompt == f"USER: <image>\n{record.pairs[0].question}\nASSISTANT:"
    assert mm[0].answer == f" {record.pairs[0].answer}</s>"  # the tiny chat template closes the turn
    encoded = Encoder(processor).encode(mm[0])
    assert encoded.input_ids[-1] == processor.tokenizer.eos_token_id
    assert encoded.input_ids[-2] != processor.tokenizer.eos_token_id
    text = ft_examples(bench, fmt, "text", [record.id])
    name = next(p.name for p in bench.split(Split.FULL) if p.id == record.id)
    assert text and all(not e.images and "<image>" not in e.prompt and name in e.prompt for e in text)
    assert len(text) < len(mm)  # the name question has no text-only form


def test_shuffled_options_keep_the_correct_answer(bench):
    q = bench.split(Split.FULL)[0].multiple_choice[0]
    rng = random.Random(3)
    letters = set()
    for _ in range(20):
        s = shuffled(q, rng)
        assert sorted(s.options.values()) == sorted(q.options.values())
        assert s.options[s.correct] == q.options[q.correct]
        letters.add(s.correct)
    assert len(letters) > 1


def test_official_format_examples_use_the_official_strings(bench):
    full = bench.split(Split.FULL)
    p = full[0]
    ex = official_format_examples([p], full, random.Random(0), "multimodal", mc_prefix_rate=1.0,
                                  shuffle_options=False)
    mc = [e for e in ex if e.kind == "classification"]
    assert len(mc) == len(p.multiple_choice)
    first = p.multiple_choice[0]
    assert mc[0].prompt.endswith(official_mc_query(first, Modality.IMAGE_TEXT))
    assert mc[0].answer == f" {first.correct}"
    assert mc[0].prompt.count("<image>") == len(mc[0].images) == 6  # five demos and the query
    gen = [e for e in ex if e.kind == "generation"]
    assert {e.answer.strip() for e in gen} == {g.ground_truth for g in p.generation}
    text_only = official_format_examples([p], full, random.Random(0), "text")
    assert text_only and all(not e.images for e in text_only)
    assert len(demo_examples(bench, PromptFormat(None), "multimodal", [p.id, "celeb_01"], random.Random(0))) > len(ex)
    with pytest.raises(ValueError, match="neither"):
        demo_examples(bench, PromptFormat(None), "multimodal", ["nobody"], random.Random(0))


def test_encoder_matches_the_processor_and_masks_the_prompt(bench, tiny):
    _, processor = tiny
    ex = official_format_examples(bench.split(Split.FULL)[:2], bench.split(Split.FULL), random.Random(1))
    fast = Encoder(processor)
    assert fast._tokens_per_image == 16
    slow = Encoder(processor)
    slow._tokens_per_image = None  # the generic path: the processor itself
    for e in ex:
        a, b = fast.encode(e), slow.encode(e)
        assert a.input_ids == b.input_ids and a.labels == b.labels
        assert (a.pixel_values is None) == (b.pixel_values is None)
        if a.pixel_values is not None:
            assert torch.equal(a.pixel_values, b.pixel_values)
        n_answer = sum(x != IGNORE_INDEX for x in a.labels)
        answer_ids = processor.tokenizer(e.answer, add_special_tokens=False)["input_ids"]
        assert n_answer == len(answer_ids) + 1  # plus end-of-sequence
        assert a.input_ids[-1] == processor.tokenizer.eos_token_id
        assert all(x == IGNORE_INDEX for x in a.labels[: len(a.labels) - n_answer])
