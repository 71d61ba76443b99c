"""Attention that reads a batch's shared prompt prefix once (cascade attention), and the cache that holds it.

Few-shot prompts of one task share a long prefix (the demonstrations and their portraits);
:mod:`backend.generation` computes its keys and values once. Copying them into every row of the batch's cache
(what a plain key/value cache needs) costs memory per row (a 7B LLaVA's five-portrait prefix is about 3,200
tokens: five times 576 image tokens and the text; at 0.5 MiB of keys and values per token in float16, 1.6 GiB
per row) and makes attention read every copy at every generated token. Here the prefix is kept once:

- :func:`shared_prefix_cache` makes a cache whose layers (:class:`SharedPrefixLayer`) hold the prefix's keys
  and values once (batch 1) and each row's own tokens after it; its length is the prefix's plus the row's, so
  transformers sizes masks and positions exactly as for the plain cache.
- :func:`sharing` routes the language model's attention through :func:`prefix_attention` while it runs: each
  query attends to the prefix (read once for the batch) and to its row's own keys, in one softmax over both
  (the same function as plain attention over the concatenated keys; see ``tests/backend``). Several prompt
  tokens at a time (the rows' own prompts) go, a bounded group of rows at a time, through transformers' SDPA
  attention with the prefix expanded in front of the row's keys; the per-token steps of generation use the
  read-once path.

Outside :func:`sharing` (other threads, the vision tower, any model call without a shared prefix) the function is
transformers' SDPA attention unchanged. Only models whose language model runs SDPA attention take this path;
:func:`supported` says which.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

NAME = "mllmu_shared_prefix"
"""The attention implementation's name in transformers' registries."""

PREFILL_BYTES = 256 * 2**20
"""Most bytes of prefix keys and values expanded at once when several prompt tokens are attended."""

_ACTIVE: ContextVar[Any] = ContextVar("mllmu_shared_prefix_cache", default=None)
_SWAPS: dict[int, list[Any]] = {}
_SWAPS_LOCK = threading.Lock()


@functools.cache
def _layer_class(base: type) -> type:
    class SharedPrefixLayer(base):
        """A cache layer of each row's own tokens (a ``base`` layer), after a prefix held once for the batch.

        ``keys``/``values`` are the rows' own (what attention gets from ``update``); the prefix is
        ``prefix_keys``/``prefix_values`` of batch 1. Lengths count both, as a cache of ``[prefix | row]`` would.
        """

        prefix_keys: Any = None
        prefix_values: Any = None

        @property
        def prefix_length(self) -> int:
            return 0 if self.prefix_keys is None else int(self.prefix_keys.shape[-2])

        def get_seq_length(self) -> int:
            return self.prefix_length + int(super().get_seq_length())

    return SharedPrefixLayer


def shared_prefix_cache(prefix_cache: Any, layer_class: type) -> Any:
    """A cache holding ``prefix_cache``'s keys and values (batch 1) once, and each row's own tokens after them.

    The rows' own tokens are kept as a ``layer_class`` layer keeps them (a transformers ``DynamicLayer`` or a
    subclass).
    """
    from transformers.cache_utils import Cache

    layers = []
    for old in prefix_cache.layers:
        layer = _layer_class(layer_class)()
        layer.prefix_keys, layer.prefix_values = old.keys, old.values
        layers.append(layer)
    return Cache(layers=layers)


def _text_config(model: Any) -> Any:
    config = model.config
    return getattr(config, "text_config", None) or config


def supported(model: Any) -> bool:
    """Whether ``model``'s language model runs transformers' SDPA attention (the only one this replaces)."""
    return getattr(_text_config(model), "_attn_implementation", None) in ("sdpa", NAME)


@functools.cache
def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(NAME, prefix_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)


@contextlib.contextmanager
def sharing(model: Any, cache: Any) -> Iterator[None]:
    """Within the block, this thread's model calls attend to ``cache``'s shared prefix (see the module).

    The language model's attention implementation is switched to :data:`NAME` for the first user and back to
    SDPA when the last one leaves; other threads meanwhile get plain SDPA attention (the cache is this context's).
    """
    _register()
    config = _text_config(model)
    token = _ACTIVE.set(cache)
    with _SWAPS_LOCK:
        users = _SWAPS.setdefault(id(config), [config, 0])
        users[1] += 1
        config._attn_implementation = NAME
    try:
        yield
    finally:
        with _SWAPS_LOCK:
            users[1] -= 1
            if users[1] == 0:
                config._attn_implementation = "sdpa"
                del _SWAPS[id(config)]
        _ACTIVE.reset(token)


def prefix_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
    scaling: float | None = None, **kwargs: Any,
) -> tuple[Any, None]:
    """Attention over ``[shared prefix | row]``: the prefix from the active cache, the row's keys as given.

    Same contract as transformers' ``sdpa_attention_forward`` (output ``(batch, queries, heads, head_dim)``),
    which it is when no shared prefix is active for this module.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    cache = _ACTIVE.get()
    if cache is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    index = getattr(module, "layer_idx", None)
    if index is None or index >= len(cache.layers) or cache.layers[index].prefix_keys is None:
        # The keys given hold only the rows' own tokens: attending to them alone would silently drop the prefix.
        raise RuntimeError(f"{type(module).__name__} (layer {index}) runs while a shared prompt prefix is active but "
                           "has no prefix layer in the cache; run this model with share_prefix=False")
    layer = cache.layers[index]
    prefix_keys, prefix_values = layer.prefix_keys, layer.prefix_values
    if query.shape[2] > 1:
        return _prefill(module, query, key, value, attention_mask, prefix_keys, prefix_values, scaling, kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return _read_once(query, key, value, attention_mask, prefix_keys, prefix_values, scale), None


def _prefill(module: Any, query: Any, key: Any, value: Any, mask: Any, prefix_keys: Any, prefix_values: Any,
             scaling: float | None, kwargs: dict[str, Any]) -> tuple[Any, None]:
    """Several queries per row: SDPA over the prefix expanded in front of each row, a few rows at a time."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    rows, queries = query.shape[0], query.shape[2]
    if mask is None:  # no padding: causal, aligned at the end (SDPA's is_causal would align it at the start)
        width = prefix_keys.shape[2] + key.shape[2]
        mask = torch.ones(queries, width, dtype=torch.bool, device=query.device).tril(width - queries)[None, None]
    per_row = 2 * prefix_keys[0].numel() * prefix_keys.element_size()
    step = max(1, PREFILL_BYTES // max(per_row, 1))
    parts = []
    for start in range(0, rows, step):
        end = min(rows, start + step)
        n = end - start
        keys = torch.cat([prefix_keys.expand(n, -1, -1, -1), key[start:end]], dim=2)
        values = torch.cat([prefix_values.expand(n, -1, -1, -1), value[start:end]], dim=2)
        part_mask = mask[start:end] if mask.shape[0] == rows else mask
        out, _ = sdpa_attention_forward(module, query[start:end], keys, values, part_mask, scaling=scaling, **kwargs)
        parts.append(out)
    return (parts[0] if len(parts) == 1 else torch.cat(parts)), None


def _read_once(query: Any, key: Any, value: Any, mask: Any, prefix_keys: Any, prefix_values: Any,
               scale: float) -> Any:
    """One query per row: scores against the prefix and against the row, one softmax over both, two weighted sums.

    The prefix's scores and weighted sum are one matrix product each for the whole batch (the prefix read once).
    """
    import torch

    rows, heads, _, dim = query.shape
    kv_heads, prefix = prefix_keys.shape[1], prefix_keys.shape[2]
    group = heads // kv_heads
    q = query.reshape(rows, kv_heads, group, dim)  # head h reads key/value head h // group
    flat = q.transpose(0, 1).reshape(kv_heads, rows * group, dim)  # every row's queries against the one prefix
    on_prefix = torch.matmul(flat, prefix_keys[0].transpose(-1, -2)).reshape(kv_heads, rows, group, prefix)
    on_row = torch.matmul(q, key.transpose(-1, -2))  # (rows, kv_heads, group, own)
    scores = torch.cat([on_prefix.transpose(0, 1), on_row], dim=-1) * scale
    if mask is not None:
        last = mask[:, :, -1:, :]  # the query's own row of the mask (boolean: allowed; float: added)
        scores = scores.masked_fill(~last, float("-inf")) if last.dtype == torch.bool else scores + last
    weights = torch.softmax(scores.float(), dim=-1).to(value.dtype)
    w_prefix = weights[..., :prefix].transpose(0, 1).reshape(kv_heads, rows * group, prefix)
    out = torch.matmul(w_prefix, prefix_values[0]).reshape(kv_heads, rows, group, dim).transpose(0, 1)
    out = out + torch.matmul(weights[..., prefix:], value)
    return out.reshape(rows, 1, heads, dim)
