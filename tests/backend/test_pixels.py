"""Each image preprocessed once: the cached processor gives exactly the processor's own output."""

from __future__ import annotations

import torch
from PIL import Image

from backend.pixels import PixelCache, _Store, cached_processor, pixel_cache


def _portrait(color: tuple[int, int, int], size: tuple[int, int] = (40, 52)) -> Image.Image:
    img = Image.new("RGB", size, color)
    img.paste((255 - color[0], 90, 10), (6, 6, 20, 30))
    return img


class _Counting:
    """An image processor that counts the images it is asked to process."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.images = 0

    def __call__(self, images, **kwargs):  # type: ignore[no-untyped-def]
        self.images += len(images)
        return self.inner(images, **kwargs)


def test_the_cached_processor_gives_the_processors_own_output(fp32_model) -> None:  # type: ignore[no-untyped-def]
    processor = fp32_model.processor
    a, b = _portrait((200, 30, 30)), _portrait((30, 30, 200), (64, 64))
    prompts = ["USER: <image>\nWho?\nUSER: <image>\nWhere?\nASSISTANT:", "USER: <image>\nWho?\nUSER: <image>\nA?"]
    images = [a, b, a.copy(), a]
    plain = processor(text=prompts, images=images, padding=True, return_tensors="pt")
    cached = cached_processor(processor)(text=prompts, images=images, padding=True, return_tensors="pt")
    assert plain.keys() == cached.keys()
    for key in plain:
        assert torch.equal(plain[key], cached[key]), key
    assert processor.image_processor is not cached_processor(processor).image_processor  # the processor is unchanged
    assert type(processor.image_processor).__name__ != "PixelCache"


def test_only_images_not_seen_before_are_processed(fp32_model) -> None:  # type: ignore[no-untyped-def]
    counting = _Counting(fp32_model.processor.image_processor)
    cache = PixelCache(counting, _Store(2**30))
    red, blue = _portrait((200, 30, 30)), _portrait((30, 30, 200))
    first = cache([red, blue, red.copy(), red], return_tensors="pt")
    assert counting.images == 2  # red once, blue once
    again = cache([blue, red, _portrait((200, 30, 30))], return_tensors="pt")
    assert counting.images == 2  # all seen: equal content, other objects
    assert torch.equal(again["pixel_values"][0], first["pixel_values"][1])
    same_size_other_pixels = _portrait((201, 30, 30))
    turned = red.rotate(90)
    out = cache([same_size_other_pixels, turned], return_tensors="pt")
    assert counting.images == 4  # a one-step colour change and a rotation are other images
    assert torch.equal(out["pixel_values"], counting.inner([same_size_other_pixels, turned],
                                                           return_tensors="pt")["pixel_values"])


def test_the_cache_keeps_within_its_bytes_and_stays_right(fp32_model) -> None:  # type: ignore[no-untyped-def]
    inner = fp32_model.processor.image_processor
    one = inner([_portrait((1, 2, 3))], return_tensors="pt")["pixel_values"][0]
    store = _Store(max_bytes=2 * one.numel() * one.element_size())  # room for two images
    cache = PixelCache(inner, store)
    images = [_portrait((10 * i, 0, 0)) for i in range(5)]
    for img in images:
        cache([img], return_tensors="pt")
    assert len(store.rows) == 2 and store.bytes <= store.max_bytes
    got = cache(images, return_tensors="pt")["pixel_values"]
    assert torch.equal(got, inner(images, return_tensors="pt")["pixel_values"])


def test_layouts_that_are_not_one_row_per_image_pass_through() -> None:
    class Tiled:
        calls = 0

        def __call__(self, images, **kwargs):  # type: ignore[no-untyped-def]
            Tiled.calls += 1
            n = sum(len(i) if isinstance(i, list) else 1 for i in images)
            return {"pixel_values": torch.zeros(1, n, 3, 4, 4), "pixel_attention_mask": torch.ones(1, n, 4, 4)}

    cache = pixel_cache(Tiled())
    img = _portrait((5, 5, 5))
    out = cache([img, img])  # one row for the whole batch: not per image, so not cached
    assert out["pixel_values"].shape == (1, 2, 3, 4, 4)
    nested = cache([[img], [img]])  # Idefics2-style nested lists go straight through
    assert nested["pixel_values"].shape == (1, 2, 3, 4, 4)
    cache([img, img])
    assert Tiled.calls == 4  # 2 (tried, then whole) + 1 nested + 1 again (straight through): nothing was cached
    assert cache._store.rows == {}
