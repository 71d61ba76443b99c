"""Each image preprocessed once: a cache of pixel values in front of a processor's image processor.

A profile's portrait comes back with every one of its questions, and every few-shot prompt repeats the
demonstrations' portraits: a batch of 64 multiple-choice questions carries 384 images of which a dozen differ.
:func:`cached_processor` returns a shallow copy of a processor whose image processor looks each image up by
its content (mode, size and a digest of its pixels, plus the call's options) and runs the real image
processor only on images it has not seen. The processor itself is never changed (saving it, training with it
and other threads are unaffected).

Only layouts where the output is one row per image are cached (LLaVA: ``pixel_values`` of shape
``(images, channels, height, width)``); anything else (nested per-prompt image lists, image tiling, extra
outputs such as Idefics2's ``pixel_attention_mask``) goes straight to the image processor, uncached.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import weakref
from collections import OrderedDict
from typing import Any

MAX_BYTES = 256 * 2**20
"""Most bytes of pixel values kept per image processor (least recently used dropped first)."""


def _digest(image: Any) -> bytes:
    return hashlib.blake2b(image.tobytes(), digest_size=16).digest()


class _Store:
    """Pixel values by image key, least recently used dropped first beyond ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.rows: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self.bytes = 0
        self.lock = threading.Lock()
        self.cacheable = True
        """False once the image processor's output turned out not to be one row per image (then never cached)."""

    def get(self, keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], dict[str, Any]]:
        with self.lock:
            found = {k: self.rows[k] for k in keys if k in self.rows}
            for k in found:
                self.rows.move_to_end(k)
        return found

    def put(self, rows: dict[tuple[Any, ...], dict[str, Any]]) -> None:
        with self.lock:
            for key, row in rows.items():
                if key not in self.rows:
                    self.rows[key] = row
                    self.bytes += _size(row)
            while self.bytes > self.max_bytes and self.rows:
                _, old = self.rows.popitem(last=False)
                self.bytes -= _size(old)


class PixelCache:
    """Stands in for an image processor: the same call, each image's pixel values computed once.

    Attributes other than the call (``size``, ``crop_size``, ...) are the wrapped image processor's.
    """

    def __init__(self, image_processor: Any, store: _Store) -> None:
        self._inner = image_processor
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __call__(self, images: Any, *args: Any, **kwargs: Any) -> Any:
        """The image processor's output for ``images``; flat lists of PIL images reuse rows already computed."""
        from PIL.Image import Image

        if args or not self._store.cacheable or not isinstance(images, list | tuple) or not images or \
                not all(isinstance(i, Image) for i in images):
            return self._inner(images, *args, **kwargs)
        options = repr(sorted(kwargs.items()))
        keys = [(image.mode, image.size, _digest(image), options) for image in images]
        found = self._store.get(keys)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            rows = _split(self._inner([images[first[k]] for k in missing], **kwargs), len(missing))
            if rows is None:  # not one row per image: this layout is not cached, now or later
                self._store.cacheable = False
                return self._inner(images, **kwargs)
            fresh = dict(zip(missing, rows, strict=True))
            found.update(fresh)
            self._store.put(fresh)
        return _join([found[k] for k in keys], kwargs.get("return_tensors"))


def _split(out: Any, n: int) -> list[dict[str, Any]] | None:
    """``out`` as one row per image, or None when it is not LLaVA's layout.

    That layout is ``pixel_values`` alone, of shape ``(images, channels, height, width)``; tiles, per-prompt nesting
    or extra outputs are not cached.
    """
    import torch

    values = dict(out.items())
    pixels = values.get("pixel_values")
    if set(values) != {"pixel_values"} or not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 \
            or pixels.shape[0] != n:
        return None
    return [{"pixel_values": pixels[i].clone()} for i in range(n)]


def _join(rows: list[dict[str, Any]], return_tensors: Any) -> Any:
    import torch
    from transformers import BatchFeature

    data = {name: torch.stack([row[name] for row in rows]) for name in rows[0]}
    return BatchFeature(data=data, tensor_type=return_tensors)


def _size(row: dict[str, Any]) -> int:
    return sum(v.numel() * v.element_size() for v in row.values())


_STORES: weakref.WeakKeyDictionary[Any, _Store] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def pixel_cache(image_processor: Any, *, max_bytes: int = MAX_BYTES) -> PixelCache:
    """``image_processor`` behind its cache (one per image processor, dropped with it)."""
    with _STORES_LOCK:
        store = _STORES.get(image_processor)
        if store is None:
            store = _STORES[image_processor] = _Store(max_bytes)
    return PixelCache(image_processor, store)


def cached_processor(processor: Any) -> Any:
    """A shallow copy of ``processor`` whose image processor is behind its :func:`pixel_cache`.

    ``processor`` itself when it has no image processor.
    """
    inner = getattr(processor, "image_processor", None)
    if inner is None:
        return processor
    view = copy.copy(processor)
    view.image_processor = pixel_cache(inner)
    return view
