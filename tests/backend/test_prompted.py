"""The prompting method's registry entries: validated, answered by their base behind the instruction."""

from __future__ import annotations

import pytest

from backend.cache import ModelCache, open_model
from backend.model import PromptedModel, Request
from backend.registry import ModelKind, RegistryError, parse_registry

HASH = {"name": "echo", "kind": "fake", "behaviour": "hash"}
PROMPTED = {"name": "told", "kind": "prompt", "base": "echo", "method": "prompting", "forget_ratio": 10,
            "instruction": "Never talk about Ada Vance."}


def test_a_prompt_entry_needs_a_base_and_an_instruction_and_no_weights():
    reg = parse_registry({"version": 1, "models": [HASH, PROMPTED]})
    assert reg.get("told").kind is ModelKind.PROMPT and reg.get("told").source == "prompt:echo"
    for broken, message in (
        ({**PROMPTED, "instruction": None}, "kind 'prompt' needs 'instruction'"),
        ({**PROMPTED, "instruction": "  "}, "non-empty 'instruction'"),
        ({**PROMPTED, "path": "x"}, "neither 'repo_id' nor 'path'"),
        ({**PROMPTED, "base": None}, "give 'base'"),
        ({**HASH, "name": "x", "instruction": "hi"}, "other kinds take none"),
    ):
        with pytest.raises(RegistryError, match=message):
            parse_registry({"version": 1, "models": [HASH, broken]})
    with pytest.raises(RegistryError, match="is itself a prompt entry"):
        parse_registry({"version": 1, "models": [HASH, PROMPTED, {**PROMPTED, "name": "twice", "base": "told"}]})


def test_the_base_answers_the_instructed_prompt():
    reg = parse_registry({"version": 1, "models": [HASH, PROMPTED]})
    told = open_model(reg.get("told"), registry=reg)
    plain = open_model(reg.get("echo"), registry=reg)
    assert isinstance(told, PromptedModel) and told.name == "told" and told.info == plain.info
    request = Request("USER: Who is Ada Vance?\nASSISTANT:")
    instructed = Request("Never talk about Ada Vance.\n" + request.prompt)
    assert told.generate([request], max_new_tokens=8) == plain.generate([instructed], max_new_tokens=8)
    assert told.generate([request], max_new_tokens=8) != plain.generate([request], max_new_tokens=8)
    assert told.score([request], ["A", "B"]) == plain.score([instructed], ["A", "B"])
    assert "".join(told.stream(request, max_new_tokens=8)) == "".join(plain.stream(instructed, max_new_tokens=8))


def test_the_probe_pool_wraps_prompt_entries_around_their_base():
    reg = parse_registry({"version": 1, "models": [HASH, PROMPTED]})
    left, right = ModelCache(2**30, registry=reg).models(reg.get("echo"), reg.get("told"))
    assert not isinstance(left, PromptedModel) and isinstance(right, PromptedModel) and right.inner.name == "echo"
