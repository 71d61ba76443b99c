"""A prompt cannot change without a new protocol version.

Every prompt each protocol writes is rendered on a fixed, hand-written benchmark (three fictitious people,
one celebrity, both modalities, every task) and hashed together with the plan's structure (which questions,
which images, how they are scored). The hash of each protocol version is pinned below: changing a prompt
string, a few-shot rule or the strict demo pool changes the hash, and the test fails until the protocol's
version in ``benchmark.vocabulary.PROTOCOL_VERSIONS`` is bumped and the new hash pinned beside the old ones.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from benchmark.dataset import Benchmark, Cloze, Generation, MultipleChoice, Profile
from benchmark.protocols import plan
from benchmark.strict_pool import strict_pool
from benchmark.vocabulary import PROTOCOL_VERSIONS, Modality, PromptStyle, Protocol, Split

PINNED: dict[Protocol, dict[str, str]] = {
    Protocol.OFFICIAL: {"1.0": "99190deeab05e51e", "1.1": "8dcf164a29f9f562", "1.2": "991ee133b7eda47e"},
    Protocol.STRICT: {"1.0": "f2983c55e1dda9f2"},
}
"""Protocol -> version -> hash of everything it asks. Add a line when you bump a version; never edit one."""

IMAGE, TEXT = Modality.IMAGE_TEXT, Modality.TEXT


def _person(pid: str, name: str, city: str, job: str, images: int = 1) -> Profile:
    mc = [
        MultipleChoice(question=q, options={"A": a, "B": b, "C": c, "D": d}, correct=right, modality=m)
        for q, (a, b, c, d), right, m in (
            ("Which city was this person born in?", ("Riga", city, "Porto", "Cusco"), "B", IMAGE),
            ("What is this person's occupation?", (job, "pilot", "baker", "judge"), "A", IMAGE),
            (f"In what year was {name} born?", ("1950", "1960", "1970", "1980"), "D", TEXT),
            (f"What is {name}'s profession?", ("pilot", "baker", job, "judge"), "C", TEXT),
        )
    ]
    return Profile(
        id=pid,
        name=name,
        biography={"Name": name},
        images=tuple(f"{pid}-portrait-{k}".encode() for k in range(images)),
        split=None,
        multiple_choice=tuple(mc),
        generation=(
            Generation(question="What does this person do?", ground_truth=f"This person is a {job}.", modality=IMAGE),
            Generation(question=f"Where was {name} born?", ground_truth=f"{name} was born in {city}.", modality=TEXT),
        ),
        cloze=(
            Cloze(question="This person was born in __.", ground_truth=city, modality=IMAGE),
            Cloze(question=f"{name} works as a __.", ground_truth=job, modality=TEXT),
        ),
    )


FACTS = (
    ("001", "Ada Quill", "Ghent", "cartographer"),
    ("002", "Bo Lund", "Hobart", "beekeeper"),
    ("003", "Cy Moss", "Tartu", "glassblower"),
    ("004", "Di Vale", "Accra", "astronomer"),
    ("005", "Ed Roe", "Pune", "veterinarian"),
    ("006", "Fay Hart", "Bergen", "pharmacist"),
)


def fixed_benchmark() -> Benchmark:
    """Six fictitious people (three to forget, so questions remain after the few-shot demos are taken out),
    the forgotten ones' test-set versions with two portraits each, and one celebrity."""
    people = [_person(*facts) for facts in FACTS]
    return Benchmark(
        source="fixed",
        fingerprint="fixed",
        splits={
            Split.FULL: tuple(people),
            Split.FORGET_10: tuple(people[:3]),
            Split.RETAIN_90: tuple(people[3:]),
            Split.TEST: tuple(_person(*facts, images=2) for facts in FACTS[:3]),
            Split.CELEBRITY: (_person("celeb_01", "Gil Stone", "Accra", "astronomer"),),
        },
    )


def rendered(protocol: Protocol) -> str:
    """The hash of every item ``protocol`` plans on the fixed benchmark, for each prompt style and two seeds."""
    h = hashlib.sha256()
    for style in PromptStyle:
        for seed in (0, 1):
            for item in plan(fixed_benchmark(), 10, protocol, seed=seed, style=style):
                turns = [[t.role, t.text, t.images] for t in item.messages]
                images = [hashlib.sha256(image).hexdigest()[:12] for image in item.images]
                h.update(json.dumps([item.key, item.prompt, turns, images, item.image_index, item.score_letters,
                                     item.max_new_tokens, item.reference]).encode())
    if protocol is Protocol.STRICT:
        for person in strict_pool():
            h.update(json.dumps(person.model_dump(mode="json", exclude={"images"})).encode())
            h.update(b"".join(hashlib.sha256(image).digest() for image in person.images))
    return h.hexdigest()[:16]


@pytest.mark.parametrize("protocol", list(Protocol))
def test_prompts_are_pinned_to_the_protocol_version(protocol: Protocol) -> None:
    version, digest = PROTOCOL_VERSIONS[protocol], rendered(protocol)
    pins = PINNED[protocol]
    assert version in pins, (
        f"{protocol.value} version {version} has no pinned hash: add {version!r}: {digest!r} to PINNED"
    )
    assert pins[version] == digest, (
        f"the {protocol.value} protocol's prompts changed (hash {digest}, pinned {pins[version]} for version "
        f"{version}): bump its version in benchmark.vocabulary.PROTOCOL_VERSIONS and pin the new hash"
    )


def test_the_fixed_benchmark_exercises_every_prompt_kind() -> None:
    items = plan(fixed_benchmark(), 10, Protocol.OFFICIAL, seed=0)
    kinds = {(i.eval_set.value, i.task.value, i.modality.value) for i in items}
    assert len(kinds) == 4 * 3 * 2  # every set, task and modality
    prompts = [i.prompt or "" for i in items]
    assert any("Correct Answer:" in p and "USER:<image>" in p for p in prompts)  # cloze demos, upstream's quirk
    assert any(p.endswith("in ENGLISH.\nASSISTANT: ") for p in prompts)  # image+text generation's trailing space
