"""Cascade attention over a shared prompt prefix: the same numbers as plain attention, the prefix held once."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import torch

import backend.prefix_attention as prefix_attention
from backend.generation import GenerationRequest, generate_batch

from .test_generation import _few_shot, _image, _queries


def _tensors(rows: int, heads: int, kv_heads: int, queries: int, prefix: int, own: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    dim = 16
    query = torch.randn(rows, heads, queries, dim, generator=g)
    prefix_keys = torch.randn(1, kv_heads, prefix, dim, generator=g)
    prefix_values = torch.randn(1, kv_heads, prefix, dim, generator=g)
    keys = torch.randn(rows, kv_heads, own, dim, generator=g)
    values = torch.randn(rows, kv_heads, own, dim, generator=g)
    return query, prefix_keys, prefix_values, keys, values


def _padding_mask(rows: int, queries: int, prefix: int, own: int) -> torch.Tensor:
    """A boolean [prefix | row] mask: row i has i padding tokens at the start of its own part, causal over queries."""
    mask = torch.ones(rows, 1, queries, prefix + own, dtype=torch.bool)
    for i in range(rows):
        mask[i, :, :, prefix : prefix + i] = False
    for q in range(queries):  # query q is the (own - queries + q)-th own token: later ones hidden
        mask[:, :, q, prefix + own - queries + q + 1 :] = False
    return mask


def _plain(module, query, prefix_keys, prefix_values, keys, values, mask):  # type: ignore[no-untyped-def]
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    rows = query.shape[0]
    full_keys = torch.cat([prefix_keys.expand(rows, -1, -1, -1), keys], dim=2)
    full_values = torch.cat([prefix_values.expand(rows, -1, -1, -1), values], dim=2)
    return sdpa_attention_forward(module, query, full_keys, full_values, mask, scaling=0.25)[0]


def _active(prefix_keys: torch.Tensor, prefix_values: torch.Tensor) -> SimpleNamespace:
    return SimpleNamespace(layers=[SimpleNamespace(prefix_keys=prefix_keys, prefix_values=prefix_values)])


@pytest.mark.parametrize("heads,kv_heads", [(4, 4), (4, 2)])
@pytest.mark.parametrize("padded", [False, True])
def test_one_query_per_row_equals_sdpa_over_the_concatenated_keys(heads: int, kv_heads: int, padded: bool) -> None:
    rows, prefix, own = 5, 37, 9
    query, pk, pv, keys, values = _tensors(rows, heads, kv_heads, 1, prefix, own, seed=heads + kv_heads + padded)
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=heads // kv_heads, is_causal=True)
    mask = _padding_mask(rows, 1, prefix, own) if padded else None
    expected = _plain(module, query, pk, pv, keys, values, mask)
    token = prefix_attention._ACTIVE.set(_active(pk, pv))
    try:
        got, _ = prefix_attention.prefix_attention(module, query, keys, values, mask, scaling=0.25)
    finally:
        prefix_attention._ACTIVE.reset(token)
    assert got.shape == expected.shape == (rows, 1, heads, 16)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("budget", [1, 10**9])  # 1 byte: one row at a time
def test_several_queries_per_row_equal_sdpa_in_any_group_of_rows(monkeypatch, budget: int) -> None:  # type: ignore[no-untyped-def]
    rows, heads, kv_heads, queries, prefix, own = 4, 4, 2, 6, 20, 10
    query, pk, pv, keys, values = _tensors(rows, heads, kv_heads, queries, prefix, own, seed=7)
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=2, is_causal=True)
    mask = _padding_mask(rows, queries, prefix, own)
    expected = _plain(module, query, pk, pv, keys, values, mask)
    monkeypatch.setattr(prefix_attention, "PREFILL_BYTES", budget)
    token = prefix_attention._ACTIVE.set(_active(pk, pv))
    try:
        got, _ = prefix_attention.prefix_attention(module, query, keys, values, mask, scaling=0.25)
    finally:
        prefix_attention._ACTIVE.reset(token)
    assert torch.equal(got, expected)  # the same SDPA call, row groups apart


def test_without_an_active_prefix_it_is_sdpa() -> None:
    query, pk, pv, keys, values = _tensors(3, 4, 4, 1, 0, 8, seed=3)
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=1, is_causal=True)
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    expected = sdpa_attention_forward(module, query, keys, values, None, scaling=0.25)[0]
    assert torch.equal(prefix_attention.prefix_attention(module, query, keys, values, None, scaling=0.25)[0], expected)


def test_generation_holds_the_prefix_once_and_gives_the_plain_answers(fp32_model, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    requests = _few_shot(_image((200, 200, 20)), _queries())
    made: list = []
    original = prefix_attention.shared_prefix_cache

    def recording(cache, layer_class):  # type: ignore[no-untyped-def]
        made.append(original(cache, layer_class))
        return made[-1]

    monkeypatch.setattr(prefix_attention, "shared_prefix_cache", recording)
    shared = generate_batch(fp32_model, requests, max_new_tokens=16, batch_size=4)
    plain = generate_batch(fp32_model, requests, max_new_tokens=16, batch_size=4, share_prefix=False)
    assert shared == plain and len(set(shared)) > 1
    assert len(made) == 1
    layer = made[0].layers[0]
    assert layer.prefix_keys.shape[0] == 1 and layer.keys.shape[0] == len(requests)  # the prefix once, rows apart
    assert layer.prefix_length > 3 * layer.keys.shape[2] // 4  # most of each prompt is the shared prefix
    assert fp32_model.model.config.text_config._attn_implementation == "sdpa"  # switched back afterwards


def test_a_model_on_other_attention_copies_the_prefix_instead(fp32_model, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    requests = _few_shot(_image((200, 200, 20)), _queries())
    plain = generate_batch(fp32_model, requests, max_new_tokens=12, batch_size=4, share_prefix=False)
    config = fp32_model.model.config.text_config
    monkeypatch.setattr(config, "_attn_implementation", "eager")
    monkeypatch.setattr(prefix_attention, "shared_prefix_cache", None)  # would fail if called
    assert not prefix_attention.supported(fp32_model.model)
    assert generate_batch(fp32_model, requests, max_new_tokens=12, batch_size=4) == plain


def test_other_threads_get_plain_attention_while_a_prefix_is_shared(fp32_model) -> None:  # type: ignore[no-untyped-def]
    lone = [GenerationRequest("USER: <image>\nWho is this person?\nASSISTANT:", (_image((20, 40, 230)),)),
            GenerationRequest("USER: Where was Wren Quintero born?\nASSISTANT:")]
    expected = generate_batch(fp32_model, lone, max_new_tokens=12, batch_size=2)
    pk = torch.zeros(1, 4, 7, 32)
    results: list = []
    with prefix_attention.sharing(fp32_model.model, _active(pk, pk)):  # this thread shares a (bogus) prefix
        assert fp32_model.model.config.text_config._attn_implementation == prefix_attention.NAME
        worker = threading.Thread(target=lambda: results.append(generate_batch(fp32_model, lone, max_new_tokens=12,
                                                                               batch_size=2)))
        worker.start()
        worker.join()
    assert results == [expected]
    assert fp32_model.model.config.text_config._attn_implementation == "sdpa"



def test_an_attention_layer_without_its_prefix_fails_loudly() -> None:
    query, pk, pv, keys, values = _tensors(2, 4, 4, 1, 5, 3, seed=1)
    token = prefix_attention._ACTIVE.set(_active(pk, pv))
    try:
        with pytest.raises(RuntimeError, match="shared prompt prefix"):  # a module that is not a cached layer
            prefix_attention.prefix_attention(SimpleNamespace(num_key_value_groups=1), query, keys, values, None)
        with pytest.raises(RuntimeError, match="layer 3"):
            prefix_attention.prefix_attention(SimpleNamespace(layer_idx=3), query, keys, values, None)
    finally:
        prefix_attention._ACTIVE.reset(token)


def test_an_adapter_and_its_base_view_share_the_prefix_and_keep_their_answers(adapter_spec, registry) -> None:  # type: ignore[no-untyped-def]
    from backend.loading import load_model

    adapted = load_model(adapter_spec, quantize="none", device="cpu", registry=registry)
    requests = _few_shot(_image((200, 200, 20)), _queries())
    for view in (adapted, adapted.base_view()):
        shared = generate_batch(view, requests, max_new_tokens=12, batch_size=4)
        assert shared == generate_batch(view, requests, max_new_tokens=12, batch_size=4, share_prefix=False)
    assert generate_batch(adapted, requests, max_new_tokens=12, batch_size=4) != generate_batch(
        adapted.base_view(), requests, max_new_tokens=12, batch_size=4)  # the adapter is really on, then off


def test_several_queries_without_a_mask_are_causal_from_the_end() -> None:
    rows, queries, prefix, own = 3, 4, 6, 4  # no padding: the row's own part is exactly the new queries
    query, pk, pv, keys, values = _tensors(rows, 4, 4, queries, prefix, own, seed=11)
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=1, is_causal=True)
    expected = _plain(module, query, pk, pv, keys, values, _padding_mask(1, queries, prefix, own))
    token = prefix_attention._ACTIVE.set(_active(pk, pv))
    try:
        got, _ = prefix_attention.prefix_attention(module, query, keys, values, None, scaling=0.25)
    finally:
        prefix_attention._ACTIVE.reset(token)
    torch.testing.assert_close(got, expected)
