"""The runner with a deterministic fake model: files, determinism, resume, shards, re-scoring."""

from __future__ import annotations

import copy
import json
import math
import threading

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_score import rouge_scorer

from benchmark.reader import load_benchmark
from benchmark.records import read_records
from benchmark.upstream import UPSTREAM_SET_KEYS
from benchmark.vocabulary import PROTOCOL_VERSIONS, EvalSet, Protocol
from probes import runner

from ..conftest import hash_model


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("demo")


def config(bench, **kw):
    base = dict(name="run", model="fake", data="demo", dataset_fingerprint=bench.fingerprint, forget_ratio=10,
                protocol="official", protocol_version=PROTOCOL_VERSIONS[Protocol.OFFICIAL], sets=tuple(EvalSet), seed=0,
                prompt_style="llava")
    return runner.RunConfig(**{**base, **kw})


def files_of(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_run_writes_the_files_and_is_deterministic(tmp_path, bench):
    a = runner.run(config(bench), bench, hash_model(), tmp_path / "a", progress=False)
    runner.run(config(bench), bench, hash_model(), tmp_path / "b", progress=False, batch_size=3)
    assert set(a.files) >= {"samples", "results", "run"}
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")
    results = json.loads(a.files["results"].read_text())
    assert list(results) == list(UPSTREAM_SET_KEYS.values())
    lines = a.files["samples"].read_text().splitlines()
    assert len(lines) == len(a.records) > 800
    rec = json.loads(lines[0])
    for key in ("set", "task", "modality", "profile_id", "question", "reference", "raw_output", "answer", "scores"):
        assert key in rec


def test_resume_after_a_crash_recomputes_nothing_already_written(tmp_path, bench):
    class Crash(Exception):
        pass

    def crash_after_three(done, total):
        if done >= 3 * 8:
            raise Crash

    model = hash_model()
    with pytest.raises(Crash):
        runner.run(config(bench), bench, model, tmp_path / "r", progress=False, on_batch=crash_after_three)
    partial = read_records(tmp_path / "r" / "run.samples.jsonl")
    assert len(partial) == 24
    resumed = runner.run(config(bench), bench, hash_model(), tmp_path / "r", progress=False)
    assert resumed.computed == len(resumed.records) - 24
    runner.run(config(bench), bench, hash_model(), tmp_path / "s", progress=False)
    assert files_of(tmp_path / "r") == files_of(tmp_path / "s")


def test_resume_refuses_a_different_configuration(tmp_path, bench):
    runner.run(config(bench, sets=(EvalSet.FORGET,)), bench, hash_model(), tmp_path, progress=False)
    with pytest.raises(runner.ResumeMismatch, match="different run of the same name"):
        runner.run(config(bench, sets=(EvalSet.FORGET,), seed=1), bench, hash_model(), tmp_path, progress=False)


class ThreadRanks:
    """accelerate's ``PartialState`` for ``world`` ranks played by threads of this process.

    The split is accelerate's own code (``PartialState.split_between_processes`` run on this object);
    waiting is a barrier, and ``gather_object`` (patched into ``accelerate.utils``) concatenates every
    rank's values in rank order, as accelerate's does.
    """

    def __init__(self, world):
        self.num_processes = world
        self.barrier = threading.Barrier(world, timeout=60)
        self.local = threading.local()
        self.posted = {}

    def rank(self, index):
        this = copy.copy(self)
        this.process_index = index
        return this

    def split_between_processes(self, inputs):
        from accelerate import PartialState

        return PartialState.split_between_processes(self, inputs)

    def wait_for_everyone(self):
        self.barrier.wait()

    def gather_object(self, values):
        rank = self.local.rank
        self.posted[rank] = list(values)
        self.barrier.wait()
        gathered = [v for r in range(self.num_processes) for v in self.posted[r]]
        self.barrier.wait()
        return gathered

    def run_all(self, target):
        """``target(ranked)`` in one thread per rank; returns each rank's result or exception, in rank order."""
        results = [None] * self.num_processes

        def one(index):
            self.local.rank = index
            try:
                results[index] = target(self.rank(index))
            except BaseException as exc:  # handed back to the test
                results[index] = exc
                self.barrier.abort()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(self.num_processes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        return results


@pytest.fixture
def two_ranks(monkeypatch):
    import accelerate.utils

    ranks = ThreadRanks(2)
    monkeypatch.setattr(accelerate.utils, "gather_object", ranks.gather_object)
    return ranks


def test_two_processes_split_gather_and_merge_to_the_single_process_result(tmp_path, bench, two_ranks):
    single = runner.run(config(bench), bench, hash_model(), tmp_path / "one", progress=False)
    main, worker = two_ranks.run_all(lambda processes: runner.run(config(bench), bench, hash_model(), tmp_path / "two",
                                                                   progress=False, processes=processes))
    assert worker.records == [] and worker.files == {}
    assert 0 < worker.computed < len(single.records)
    assert main.computed == len(single.records)  # the main process counts every rank's questions
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")  # byte-identical, no rank files left


def test_a_crashed_data_parallel_run_resumes_each_rank_from_its_own_file(tmp_path, bench, two_ranks):
    class Crash(Exception):
        pass

    def crash_rank_1_after_three_batches(processes):
        def on_batch(done, total):
            if processes.process_index == 1 and done >= 3 * 8:
                raise Crash
        return runner.run(config(bench), bench, hash_model(), tmp_path / "r", progress=False, processes=processes,
                          on_batch=on_batch)

    main, worker = two_ranks.run_all(crash_rank_1_after_three_batches)
    assert isinstance(worker, Crash) and isinstance(main, threading.BrokenBarrierError)
    shards = {p.name: len(read_records(p)) for p in (tmp_path / "r").glob("run.samples.rank*.jsonl")}
    assert shards["run.samples.rank1.jsonl"] == 24 and shards["run.samples.rank0.jsonl"] > 24

    again = ThreadRanks(2)
    import accelerate.utils

    accelerate.utils.gather_object = again.gather_object  # restored by the fixture's monkeypatch
    main, worker = again.run_all(lambda processes: runner.run(config(bench), bench, hash_model(), tmp_path / "r",
                                                               progress=False, processes=processes))
    assert main.computed == len(main.records) - sum(shards.values())  # nothing written is asked again
    runner.run(config(bench), bench, hash_model(), tmp_path / "s", progress=False)
    assert files_of(tmp_path / "r") == files_of(tmp_path / "s")


def test_strict_protocol_scores_letters_from_logprobs(tmp_path, bench):
    cfg = config(bench, protocol="strict", protocol_version=PROTOCOL_VERSIONS[Protocol.STRICT], sets=(EvalSet.FORGET,))
    out = runner.run(cfg, bench, hash_model(), tmp_path, progress=False)
    mc = [r for r in out.records if r.task.value == "classification"]
    assert len(mc) == 40 and all(r.letter_logprobs and r.parsed for r in mc)
    assert all(r.answer == max(r.letter_logprobs, key=r.letter_logprobs.get) for r in mc)


def test_limit_keeps_the_first_profiles(tmp_path, bench):
    out = runner.run(config(bench, limit=2), bench, hash_model(), tmp_path, progress=False)
    assert len({r.profile_id for r in out.records if r.eval_set is EvalSet.RETAIN}) <= 2


# --------------------------------------------------------------------------- independent re-scoring


def upstream_rescore(samples):
    """Upstream eval.py's rules, written independently from the project's code.

    Upstream decodes prompt + continuation, splits on "ASSISTANT:" and keeps part [1].
    """
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    sums, counts = {}, {}
    for s in samples:
        decoded = "USER: some prompt\nASSISTANT:" + s["raw_output"]
        resp = decoded.split("ASSISTANT:")[1].strip()
        side = "img" if s["modality"] == "image_text" else "txt"
        key = (s["set"], s["task"], side)
        counts[key] = counts.get(key, 0) + 1
        if s["task"] == "classification":
            pred = resp[0].upper() if resp and resp[0].upper() in "ABCD" else None
            vals = {"acc": float(pred == s["reference"])}
        elif s["task"] == "cloze":
            vals = {"acc": float(s["reference"].lower() in resp.lower())}
        else:
            r = scorer.score(s["reference"], resp)
            bleu = sentence_bleu([s["reference"].split()], resp.split(), smoothing_function=SmoothingFunction().method1)
            vals = {"R1": r["rouge1"].fmeasure, "R2": r["rouge2"].fmeasure, "RL": r["rougeL"].fmeasure, "BLEU": bleu}
        for k, v in vals.items():
            sums[key + (k,)] = sums.get(key + (k,), 0.0) + v
    return {k: v / counts[k[:3]] for k, v in sums.items()}


def test_rescoring_raw_outputs_with_upstreams_rules_reproduces_every_number(tmp_path, bench):
    out = runner.run(config(bench), bench, hash_model(), tmp_path, progress=False)
    samples = [json.loads(x) for x in out.files["samples"].read_text().splitlines()]
    expected = upstream_rescore(samples)
    results = json.loads(out.files["results"].read_text())
    set_names = {v: k.value for k, v in UPSTREAM_SET_KEYS.items()}
    checked = 0
    for set_key, tasks in results.items():
        s = set_names[set_key]
        for task_key, block in tasks.items():
            for name, value in block.items():
                side = "img" if ("image" in name.lower() or "Image_Textual" in name) else "txt"
                if task_key == "classification":
                    want = 100 * expected[(s, "classification", side, "acc")]
                elif task_key == "fill_in_the_blank":
                    want = 100 * expected[(s, "cloze", side, "acc")]
                else:
                    label = name.split("Average ")[1].split(" (")[0]
                    metric = {"ROUGE-1": "R1", "ROUGE-2": "R2", "ROUGE-L": "RL", "BLEU": "BLEU"}[label]
                    want = expected[(s, "generation", side, metric)]
                assert math.isclose(value, want, rel_tol=1e-12, abs_tol=1e-12), (set_key, task_key, name)
                checked += 1
    assert checked == 4 * 12


def test_a_limited_run_asks_the_questions_it_keeps_as_a_full_run_does(bench):
    """--limit (and probes.stress --quick) cut the evaluated sets, never the Full_Set the demos come from."""
    full = {it.key: it for it in runner.plan_run(config(bench), bench)}
    limited = [it for it in runner.plan_run(config(bench, limit=8), bench) if it.eval_set is EvalSet.FORGET]
    assert limited and all(it.prompt == full[it.key].prompt and it.images == full[it.key].images for it in limited)


@pytest.mark.parametrize("protocol", ["official", "strict"])
def test_questions_that_share_few_shot_demonstrations_are_batched_together(bench, protocol):
    items = runner.plan_run(config(bench, protocol=protocol), bench)
    size = 16
    batches = list(runner._batches(items, size))
    assert sorted(i.key for b in batches for i in b) == sorted(i.key for i in items)
    by_context: dict[str, list[str]] = {}
    for item in items:
        if item.shared:
            by_context.setdefault(repr(runner._context(item)), []).append(item.key)
    assert by_context  # the protocol does use shared demonstrations
    where = {i.key: n for n, b in enumerate(batches) for i in b}
    for keys in by_context.values():
        if len(keys) > 1:
            # a block's questions fill as few batches as possible, and those batches hold nothing else
            used = {where[k] for k in keys}
            assert len(used) == math.ceil(len(keys) / size)
            assert sum(len(batches[n]) for n in used) == len(keys)
