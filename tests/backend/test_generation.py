from __future__ import annotations

import functools
import threading

import pytest
import torch
from PIL import Image

from backend.generation import (
    GenerationRequest,
    PromptError,
    PromptTooLongError,
    chat_prompt,
    generate_batch,
    score_candidates,
    stream_generate,
)
from benchmark.prompts import ChatTurn


def _image(color: tuple[int, int, int], size: tuple[int, int] = (48, 64)) -> Image.Image:
    img = Image.new("RGB", size, color)
    img.paste((255 - color[0], 40, 200), (8, 8, 30, 40))
    return img


def _requests() -> list[GenerationRequest]:
    red, blue = _image((220, 30, 30)), _image((20, 40, 230), (128, 128))
    return [
        GenerationRequest("USER: <image>\nWhat is this person's occupation?\nASSISTANT:", (red,)),
        GenerationRequest("USER: Where was Wren Quintero born?\nASSISTANT:"),
        GenerationRequest("USER: <image>\nWhich city was this person born in?\nASSISTANT:", (blue,)),
        GenerationRequest("USER: Hi\nASSISTANT:"),
        GenerationRequest(
            "USER: What hobby is Kestrel Okonkwo known for? Answer the question based on your trained knowledge "
            "in one sentence in ENGLISH.\nASSISTANT:"
        ),
        GenerationRequest(
            "USER: <image>\nQuestion: Who?\nCorrect Answer: A\nUSER: <image>\nWho?\nASSISTANT:", (red, blue)
        ),
    ]


@pytest.mark.parametrize("model_fixture", ["fp32_model", "nf4_model"])
def test_batched_equals_one_at_a_time(model_fixture: str, request: pytest.FixtureRequest) -> None:
    loaded = request.getfixturevalue(model_fixture)
    requests = _requests()
    progress: list[tuple[int, int]] = []
    batched = generate_batch(
        loaded, requests, max_new_tokens=10, batch_size=4, progress=lambda d, t: progress.append((d, t))
    )
    single = [generate_batch(loaded, [r], max_new_tokens=10)[0] for r in requests]
    assert batched == single
    assert len(set(batched)) == len(batched)  # the prompts (and images) really change the answers
    assert progress[-1] == (6, 6) and len(progress) >= 2
    assert not any("ASSISTANT" in text or "<image>" in text for text in batched)  # continuation only


def test_images_change_the_answer(fp32_model) -> None:  # type: ignore[no-untyped-def]
    prompt = "USER: <image>\nWho is this?\nASSISTANT:"
    answers = generate_batch(
        fp32_model,
        [GenerationRequest(prompt, (_image((250, 250, 0)),)), GenerationRequest(prompt, (_image((0, 0, 40)),))],
        max_new_tokens=8,
    )
    assert answers[0] != answers[1]


def test_stop_strings_cut_before_the_first_occurrence(fp32_model) -> None:  # type: ignore[no-untyped-def]
    requests = _requests()[:3]
    full = generate_batch(fp32_model, requests, max_new_tokens=24)
    target = full[1]
    stop = target[len(target) // 2 : len(target) // 2 + 3]
    assert stop and stop in target
    cut = generate_batch(fp32_model, requests, max_new_tokens=24, stop=[stop, "zzzz-never"])
    for whole, part in zip(full, cut, strict=True):
        index = whole.find(stop)
        assert part == (whole[:index] if index >= 0 else whole)
    assert cut[1] == target[: target.find(stop)]


def test_stream_matches_batch_and_reports_why_it_ended(fp32_model) -> None:  # type: ignore[no-untyped-def]
    request = _requests()[0]
    expected = generate_batch(fp32_model, [request], max_new_tokens=12)[0]
    stream = stream_generate(fp32_model, request, max_new_tokens=12)
    chunks = list(stream)
    assert "".join(chunks) == expected == stream.text
    assert len(chunks) > 1 and stream.stop_reason in ("max_new_tokens", "eos")
    stop = expected[3:6]
    stopped = stream_generate(fp32_model, request, max_new_tokens=12, stop=[stop])
    assert "".join(stopped) == expected[: expected.find(stop)] and stopped.stop_reason == "stop_string"


def test_stream_can_be_cancelled_and_times_out(fp32_model) -> None:  # type: ignore[no-untyped-def]
    request = _requests()[1]
    cancel = threading.Event()
    stream = stream_generate(fp32_model, request, max_new_tokens=400, cancel=cancel)
    first = next(stream)
    cancel.set()
    rest = list(stream)
    assert stream.stop_reason == "cancelled"
    tokens = len(fp32_model.tokenizer(first + "".join(rest), add_special_tokens=False)["input_ids"])
    assert tokens < 100
    timed = stream_generate(fp32_model, request, max_new_tokens=400, time_limit_s=0.0)
    list(timed)
    assert timed.stop_reason == "time_limit"
    # closing a stream early stops its worker and releases the model
    closing = stream_generate(fp32_model, request, max_new_tokens=400)
    next(closing)
    closing.close()
    assert not closing._thread.is_alive()
    assert fp32_model.lock.acquire(timeout=5)
    fp32_model.lock.release()


def test_score_candidates_matches_the_logits(fp32_model) -> None:  # type: ignore[no-untyped-def]
    requests = _requests()
    batched = score_candidates(fp32_model, requests, batch_size=4)
    single = [score_candidates(fp32_model, [r])[0] for r in requests]
    for a, b in zip(batched, single, strict=True):
        assert a.keys() == {"A", "B", "C", "D"}
        assert all(abs(a[k] - b[k]) < 1e-4 for k in a)
    # Against a plain forward pass: log-sum-exp over the tokens that can begin each letter.
    tok = fp32_model.tokenizer
    enc = fp32_model.processor(text=[requests[1].prompt], return_tensors="pt")
    with torch.inference_mode():
        logprobs = torch.log_softmax(fp32_model.model(**enc).logits[0, -1].float(), dim=-1)
    for letter in "ABCD":
        ids = {tok.convert_tokens_to_ids(letter), tok.convert_tokens_to_ids("Ġ" + letter)} - {tok.unk_token_id, None}
        ids = {i for i in ids if tok.convert_ids_to_tokens(i) in (letter, "Ġ" + letter)}
        expected = torch.logsumexp(logprobs[sorted(ids)], dim=0)
        assert abs(batched[1][letter] - float(expected)) < 1e-4


def test_score_candidates_rejects_ambiguous_candidates(fp32_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="same token"):
        score_candidates(fp32_model, _requests()[:1], candidates=("Wren", "Wren Quintero"))


def test_prompt_longer_than_the_context(fp32_model) -> None:  # type: ignore[no-untyped-def]
    long = GenerationRequest("USER: " + "Painting Sailing " * 1100 + "\nASSISTANT:")
    with pytest.raises(PromptTooLongError, match=r"request 1: the prompt is \d+ tokens .* context of 2048 tokens"):
        generate_batch(fp32_model, [_requests()[1], long], max_new_tokens=5)
    with pytest.raises(PromptTooLongError):
        score_candidates(fp32_model, [long])
    with pytest.raises(PromptTooLongError):
        stream_generate(fp32_model, long, max_new_tokens=5)


def test_image_count_must_match_image_tokens(fp32_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptError, match=r"request 0: the prompt has 1 <image> token\(s\) but 0 image\(s\)"):
        generate_batch(fp32_model, [GenerationRequest("USER: <image>\nWho?\nASSISTANT:")], max_new_tokens=3)
    with pytest.raises(PromptError, match="has 0 <image>"):
        score_candidates(fp32_model, [GenerationRequest("USER: Who?\nASSISTANT:", (_image((1, 2, 3)),))])


def test_chat_template_mode(fp32_model) -> None:  # type: ignore[no-untyped-def]
    turns = [
        ChatTurn("system", "Answer briefly."),
        ChatTurn("user", "Who is this?", images=1),
        ChatTurn("assistant", "A cartographer."),
        ChatTurn("user", "Where was she born?"),
    ]
    prompt = chat_prompt(fp32_model, turns)
    assert prompt == (
        "Answer briefly.\nUSER: <image>\nWho is this?\nASSISTANT: A cartographer.</s>\n"
        "USER: Where was she born?\nASSISTANT:"
    )
    single = chat_prompt(fp32_model, [ChatTurn("user", "Who is this?", images=1)])
    assert single == "USER: <image>\nWho is this?\nASSISTANT:"
    request = GenerationRequest(single, (_image((9, 9, 9)),))
    assert generate_batch(fp32_model, [request], max_new_tokens=4)[0]


# --------------------------------------------------------------------------- shared few-shot prefix


def _few_shot(demo: Image.Image, queries: list[tuple[str, Image.Image]]) -> list[GenerationRequest]:
    """Few-shot prompts as the official protocol builds them: the same demonstrations, then each question."""
    block = "".join(
        f"USER: <image>\nQuestion: {q}\nA: Nagoya\nB: Hobart\nC: Accra\nD: Ghent\nCorrect Answer: {a}\n"
        for q, a in [("Which city was this person born in?", "A"), ("Where does this person work?", "C"),
                     ("What hobby is this person known for?", "D")]
    )
    return [GenerationRequest(f"{block}USER: <image>\n{q}\nA: x\nB: y\nC: z\nD: w\nASSISTANT:", (demo, demo, demo, img))
            for q, img in queries]


def _queries() -> list[tuple[str, Image.Image]]:
    return [("Who is this?", _image((220, 30, 30))), ("Which city was this person born in, if you know it?",
            _image((20, 40, 230), (128, 128))), ("Occupation?", _image((30, 200, 40))),
            ("What is this person known for in their home town?", _image((220, 30, 30)))]


def test_a_shared_few_shot_prefix_is_computed_once_and_changes_no_answer(fp32_model, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import backend.generation as generation

    requests = _few_shot(_image((200, 200, 20)), _queries())
    enc = generation._encode(fp32_model, requests)
    shared = generation._shared_prefix(fp32_model, enc, [4] * len(requests))
    assert shared is not None and shared.images == 3  # the three demonstration portraits, not the query's
    ids = enc["input_ids"][0][enc["attention_mask"][0].bool()]
    assert int((ids[: shared.length] == fp32_model.processor.image_token_id).sum()) == 3 * (
        int((ids == fp32_model.processor.image_token_id).sum()) // 4)

    prefills: list[int] = []
    forward = type(fp32_model.model).forward

    @functools.wraps(forward)  # generate checks its arguments against forward's signature
    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] > 1:
            prefills.append(int(ids.shape[0] * ids.shape[1]))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(fp32_model.model), "forward", counting)
    shared_out = generate_batch(fp32_model, requests, max_new_tokens=12, batch_size=4)
    shared_tokens = sum(prefills)
    prefills.clear()
    plain = generate_batch(fp32_model, requests, max_new_tokens=12, batch_size=4, share_prefix=False)
    plain_tokens = sum(prefills)
    single = [generate_batch(fp32_model, [r], max_new_tokens=12)[0] for r in requests]
    assert shared_out == plain == single
    assert len(set(single)) > 1
    assert shared_tokens < plain_tokens / 2  # the demonstrations were read once, not four times


def test_the_same_text_with_other_portraits_is_not_shared(fp32_model) -> None:  # type: ignore[no-untyped-def]
    import backend.generation as generation

    queries = _queries()[:2]
    requests = [*_few_shot(_image((200, 200, 20)), queries[:1]), *_few_shot(_image((10, 10, 90)), queries[1:])]
    enc = generation._encode(fp32_model, requests)
    assert generation._shared_prefix(fp32_model, enc, [4, 4]) is None  # the first portrait already differs
    batched = generate_batch(fp32_model, requests, max_new_tokens=10, batch_size=2)
    assert batched == [generate_batch(fp32_model, [r], max_new_tokens=10)[0] for r in requests]


def test_the_prefix_ends_before_the_first_portrait_that_differs(fp32_model) -> None:  # type: ignore[no-untyped-def]
    import backend.generation as generation

    demo, other = _image((200, 200, 20)), _image((10, 10, 90))
    same_text = _few_shot(demo, _queries()[:2])
    changed = GenerationRequest(same_text[1].prompt, (demo, other, demo, same_text[1].images[3]))
    requests = [same_text[0], changed]
    enc = generation._encode(fp32_model, requests)
    shared = generation._shared_prefix(fp32_model, enc, [4, 4])
    assert shared is not None and shared.images == 1
    assert generate_batch(fp32_model, requests, max_new_tokens=10, batch_size=2) == [
        generate_batch(fp32_model, [r], max_new_tokens=10)[0] for r in requests]


def test_scoring_after_a_shared_prefix_equals_plain_scoring(fp32_model) -> None:  # type: ignore[no-untyped-def]
    requests = _few_shot(_image((200, 200, 20)), _queries())
    shared = score_candidates(fp32_model, requests, batch_size=4)
    plain = score_candidates(fp32_model, requests, batch_size=4, share_prefix=False)
    single = [score_candidates(fp32_model, [r])[0] for r in requests]
    for a, b, c in zip(shared, plain, single, strict=True):
        assert a.keys() == b.keys() == c.keys()
        for letter in a:
            assert a[letter] == pytest.approx(c[letter], abs=1e-4) and b[letter] == pytest.approx(c[letter], abs=1e-4)


@pytest.mark.parametrize("room", [3, 256])
def test_the_growing_cache_answers_as_transformers_own_cache(fp32_model, monkeypatch, room) -> None:  # type: ignore[no-untyped-def]
    import backend.generation as generation

    requests = [*_requests(), *_few_shot(_image((200, 200, 20)), _queries())]
    monkeypatch.setattr(generation, "CACHE_ROOM", room)  # 3: it regrows every few tokens
    growing = generate_batch(fp32_model, requests, max_new_tokens=24, batch_size=4)
    monkeypatch.setattr(generation, "_growing_cache", lambda: None)  # transformers' default DynamicCache
    default = generate_batch(fp32_model, requests, max_new_tokens=24, batch_size=4)
    assert growing == default
    assert any(len(fp32_model.tokenizer(text)["input_ids"]) > 6 for text in growing)  # long enough to regrow


def test_only_tokens_that_can_end_a_stop_string_trigger_a_check(fp32_model) -> None:  # type: ignore[no-untyped-def]
    from backend.generation import _closing_tokens

    tokenizer = fp32_model.tokenizer
    special = set(tokenizer.all_special_ids)
    texts = {t: tokenizer.decode([t]) for t in range(len(tokenizer)) if t not in special}
    pieces = {t for t, text in texts.items() if not text or "\ufffd" in text}
    colon = _closing_tokens(tokenizer, ("ASSISTANT:",))
    assert colon and colon == {t for t, text in texts.items() if ":" in text}  # an ASCII colon is one whole byte
    assert pieces and pieces <= _closing_tokens(tokenizer, ("→",))  # a byte piece may complete a wider character
