"""The official plan skips a demo profile whole; upstream's eval.py skips it by index. Equal on the real layout.

Upstream (spec section 3) records, for each drawn demo ID, the indices of the demo questions taken from its
Full_Set row (multiple choice: 0..n-1 within each modality's list; cloze: the positions in ``Mask_Task`` of each
``Type``), and skips a question of the evaluated row when its ID is a demo ID and its index is recorded. On the
test set the recorded indices come from the Full_Set row but are compared with the Test_Set row's paraphrased
questions. :mod:`benchmark.protocols` skips every question of the demo profile instead. Here a benchmark with the
real layout's shapes (Full_Set one row per ID; Test_Set in two shards, in another row order, with an ``images``
list; 5 + 5 multiple choice, 2 + 2 generation and 2 + 2 cloze per profile; forget splits not nested) is written
in the Hub layout, read back, planned, and compared with a small implementation of the index rule.
"""

from __future__ import annotations

import io
import json
import random
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from benchmark import protocols
from benchmark.dataset import Benchmark, Profile
from benchmark.prompts import official_cloze_demo, official_mc_demo
from benchmark.reader import load_benchmark
from benchmark.vocabulary import FORGET_RATIOS, EvalSet, Modality, Split, Task

PROFILES = 60  # forget_5/10/15: 3, 6 and 9 IDs (the real data: 500; 25, 50, 75)
CELEBRITIES = 8
SEEDS = (0, 1, 2, 3)
IT, PT = "Image_Textual", "Pure_Text"
FULL_CLOZE_ORDER = (IT, IT, PT, PT)


# --------------------------------------------------------------------------- a benchmark in the real layout


def _png(rng: random.Random) -> dict[str, Any]:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), tuple(rng.randrange(256) for _ in range(3))).save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


def _mc(pid: str, kind: str, k: int, tag: str) -> dict[str, Any]:
    return {
        "Question": f"{tag} {kind} question {k} about {pid}?",
        "Options": {x: f"{x}{k}-{pid}" for x in "ABCD"},
        "Correct_Answer": "ABCD"[k % 4],
    }


def _row(rng: random.Random, pid: str, *, test: bool, mc: tuple[int, int] = (5, 5),
         cloze_order: Sequence[str] = FULL_CLOZE_ORDER) -> dict[str, Any]:
    tag = "Paraphrased" if test else "Original"
    row: dict[str, Any] = {
        "ID": pid,
        "biography": json.dumps({"Name": f"Person {pid}"}),
        "question": f"Who is {pid}?",
        "answer": f"{pid} is a person.",
        "Classification_Task": {
            "Image_Textual_Questions": [_mc(pid, "image", k, tag) for k in range(mc[0])],
            "Pure_Text_Questions": [_mc(pid, "text", k, tag) for k in range(mc[1])],
        },
        "Generation_Task": [
            {"Question": f"{tag} open question {k} about {pid}?", "Ground_Truth": f"answer {k}", "Type": t}
            for k, t in enumerate((IT, IT, PT, PT))
        ],
        "Mask_Task": [
            {"Question": f"{tag} cloze {k} about {pid}: __.", "Ground_Truth": f"blank {k} {t}", "Type": t}
            for k, t in enumerate(cloze_order)
        ],
    }
    if test:
        row["images"] = [_png(rng) for _ in range(rng.choice((2, 3)))]
    else:
        row["image"] = _png(rng)
    return row


def write_real_layout(out: Path, *, seed: int = 0, cloze_order: Sequence[str] = FULL_CLOZE_ORDER,
                      test_cloze_order: Sequence[str] | None = None, test_mc: tuple[int, int] = (5, 5)) -> Path:
    """Write a small benchmark with the real dataset's shapes to ``out`` in the Hub layout."""
    rng = random.Random(seed)
    ids = [f"{i:03d}" for i in range(1, PROFILES + 1)]
    full = {pid: _row(rng, pid, test=False, cloze_order=cloze_order) for pid in ids}
    forget: dict[int, list[str]] = {}
    while True:  # not nested, as upstream (its 093 is in forget_5 and forget_15, not forget_10)
        forget = {r: rng.sample(ids, PROFILES * r // 100) for r in FORGET_RATIOS}
        if set(forget[5]) & set(forget[15]) - set(forget[10]) and not set(forget[5]) <= set(forget[10]):
            break
    test_order = rng.sample(ids, len(ids))  # Test_Set rows in another order than Full_Set's
    test_rows = [_row(rng, pid, test=True, mc=test_mc, cloze_order=test_cloze_order or cloze_order)
                 for pid in test_order]
    celebrities = [_row(rng, f"celebrity_{i}", test=False) for i in range(CELEBRITIES)]

    def write(folder: str, rows: list[dict[str, Any]], shards: int = 1) -> None:
        (out / folder).mkdir(parents=True)
        size = -(-len(rows) // shards)
        for k in range(shards):
            table = pa.Table.from_pylist(rows[k * size:(k + 1) * size])
            pq.write_table(table, out / folder / f"train-{k:05d}-of-{shards:05d}.parquet")

    write(Split.FULL.folder, list(full.values()))
    for r in FORGET_RATIOS:
        write(f"forget_{r}", [full[pid] for pid in forget[r]])
        write(f"retain_{100 - r}", [row for pid, row in full.items() if pid not in forget[r]])
    write(Split.TEST.folder, test_rows, shards=2)
    write(Split.CELEBRITY.folder, celebrities)
    return out


# --------------------------------------------------------------------------- upstream's rule, written again


def _demo_ids(items: Sequence[protocols.Item], full: dict[str, Profile], s: EvalSet, task: Task) -> set[str]:
    """The Full_Set profiles whose questions are the demos in the prompts of ``s``/``task`` (read off the prompts)."""
    prefixes = {i.prompt[: i.shared] for i in items if i.eval_set is s and i.task is task and i.prompt}
    found = set()
    for p in full.values():
        if task is Task.CLASSIFICATION:
            demos = [official_mc_demo(q, q.modality) for q in p.multiple_choice]  # type: ignore[arg-type]
        else:
            demos = [official_cloze_demo(q) for q in p.cloze]  # type: ignore[arg-type]
        if any(d in prefix for prefix in prefixes for d in demos):
            found.add(p.id)
    return found


def index_rule_keys(s: EvalSet, evaluated: Sequence[Profile], full: dict[str, Profile],
                    demo_ids: dict[Task, set[str]]) -> set[str]:
    """The keys upstream's eval.py asks: a demo ID's question is skipped when its index was used as a demo."""
    used: dict[tuple[Task, str, Modality], set[int]] = {}
    for task, pids in demo_ids.items():
        for pid in pids:
            row = full.get(pid)  # demos come from Full_Set; an ID not there (a celebrity) gives none
            if row is None:
                continue
            if task is Task.CLASSIFICATION:  # indices within each modality's list
                for m in Modality:
                    used[(task, pid, m)] = set(range(len(row.questions(task, m))))
            else:  # positions in the whole Mask_Task list, filed by Type
                for k, q in enumerate(row.cloze):
                    used.setdefault((task, pid, q.modality), set()).add(k)
    keys = set()
    for p in evaluated:
        per_modality: Counter[Modality] = Counter()
        for k, q in enumerate(p.multiple_choice):  # our key's index runs over image+text, then text
            j = per_modality[q.modality]
            per_modality[q.modality] += 1
            if j not in used.get((Task.CLASSIFICATION, p.id, q.modality), set()):
                keys.add(f"{s.value}/{Task.CLASSIFICATION.value}/{q.modality.value}/{p.id}/{k}")
        for k, cz in enumerate(p.cloze):
            if k not in used.get((Task.CLOZE, p.id, cz.modality), set()):
                keys.add(f"{s.value}/{Task.CLOZE.value}/{cz.modality.value}/{p.id}/{k}")
        for k, g in enumerate(p.generation):  # zero-shot: nothing skipped
            keys.add(f"{s.value}/{Task.GENERATION.value}/{g.modality.value}/{p.id}/{k}")
    return keys


def _compare(bench: Benchmark, ratio: int, seed: int, style: str, s: EvalSet) -> tuple[set[str], set[str], dict]:
    items = protocols.plan(bench, ratio, "official", sets=(s,), seed=seed, style=style)
    full = {p.id: p for p in bench.split(Split.FULL)}
    demo_ids = {t: _demo_ids(items, full, s, t) for t in (Task.CLASSIFICATION, Task.CLOZE)}
    expected = index_rule_keys(s, bench.eval_profiles(s, ratio), full, demo_ids)
    return {i.key for i in items}, expected, demo_ids


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module", params=[FULL_CLOZE_ORDER, (IT, PT, IT, PT)], ids=["cloze-it-it-pt-pt", "interleaved"])
def real_layout(request, tmp_path_factory):
    return load_benchmark(write_real_layout(tmp_path_factory.mktemp("real"), seed=5, cloze_order=request.param))


def test_the_synthetic_benchmark_has_the_real_layouts_shapes(real_layout):
    folder = Path(real_layout.source)
    assert len(list((folder / "Test_Set").glob("*.parquet"))) == 2
    full, test = real_layout.split(Split.FULL), real_layout.split(Split.TEST)
    assert [p.id for p in full] != [p.id for p in test] and {p.id for p in full} == {p.id for p in test}
    assert {len(p.images) for p in test} == {2, 3} and {len(p.images) for p in full} == {1}
    for p in (*full, *test):
        assert [len(p.questions(t, m)) for t in Task for m in Modality] == [5, 5, 2, 2, 2, 2]
    forget = {r: {p.id for p in real_layout.split(Split(f"forget_{r}"))} for r in FORGET_RATIOS}
    assert [len(forget[r]) for r in FORGET_RATIOS] == [3, 6, 9]
    assert not forget[5] <= forget[10] and forget[5] & forget[15] - forget[10]


@pytest.mark.parametrize("style", ["llava", "idefics2"])
@pytest.mark.parametrize("ratio", FORGET_RATIOS)
def test_skipping_the_demo_profile_equals_upstreams_index_rule_on_the_real_layout(real_layout, ratio, style):
    for seed in SEEDS:
        for s in EvalSet:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # the shape warning must stay silent on the real layout
                asked, expected, demo_ids = _compare(real_layout, ratio, seed, style, s)
            n_cloze = 0 if s is EvalSet.CELEBRITY else (1 if style == "idefics2" else 2)
            n_mc = 0 if s is EvalSet.CELEBRITY else 1
            assert [len(demo_ids[Task.CLASSIFICATION]), len(demo_ids[Task.CLOZE])] == [n_mc, n_cloze], (s, seed)
            assert asked == expected, (s, seed, sorted(asked ^ expected)[:5])
            # Every question of a demo profile is skipped, in both rules; no other profile loses any.
            n = len(real_layout.eval_profiles(s, ratio))
            per_task = Counter(k.split("/")[1] for k in asked)
            assert [per_task[t.value] for t in Task] == [10 * (n - n_mc), 4 * n, 4 * (n - n_cloze)]
            for task, pids in demo_ids.items():
                assert not [k for k in asked if k.split("/")[1] == task.value and k.split("/")[3] in pids]


@pytest.mark.parametrize(
    ("layout", "extra"),
    [
        ({"test_mc": (6, 5)}, lambda d: {f"test/classification/image_text/{d}/5"}),
        ({"test_cloze_order": (IT, PT, IT, PT)}, lambda d: {f"test/cloze/text/{d}/1", f"test/cloze/image_text/{d}/2"}),
    ],
    ids=["sixth-image-text-mc", "cloze-types-reordered"],
)
def test_where_the_rules_differ_the_plan_skips_and_warns(tmp_path, layout, extra):
    """A Test_Set row with more questions than its Full_Set row (or its cloze Types elsewhere): upstream asks the
    demo profile's questions at indices its demos did not use; the plan skips them all and warns."""
    bench = load_benchmark(write_real_layout(tmp_path / "odd", seed=5, **layout))
    task = Task.CLASSIFICATION if "test_mc" in layout else Task.CLOZE
    with pytest.warns(UserWarning, match=r"official plan, test set, .*upstream's eval.py.* would ask [12] question"):
        asked, expected, demo_ids = _compare(bench, 10, 0, "idefics2", EvalSet.TEST)
    (demo,) = demo_ids[task]
    assert expected - asked == extra(demo)
    assert asked <= expected
    assert not any(k.split("/")[3] == demo for k in asked if k.split("/")[1] == task.value)
    # The forget and retain sets read Full_Set-shaped rows: no difference and no warning there.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for s in (EvalSet.FORGET, EvalSet.RETAIN):
            asked, expected, _ = _compare(bench, 10, 0, "idefics2", s)
            assert asked == expected
