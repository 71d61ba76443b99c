"""The data reader: loading the upstream layout, named errors, fingerprint, describe (and its old command name)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmark import reader as data
from benchmark.reader import DEMO_DIR
from benchmark.vocabulary import EvalSet, Modality, Split, Task
from demo.dataset import FORGET_IDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    return data.load_benchmark("demo")


def test_describe_reports_the_demo_counts(capsys):
    assert data.main(["describe", "--data", "demo"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["fingerprint"]) == 16
    profiles = {name: c["profiles"] for name, c in out["splits"].items()}
    assert profiles == {
        "full": 40,
        "forget_5": 2,
        "forget_10": 4,
        "forget_15": 6,
        "retain_95": 38,
        "retain_90": 36,
        "retain_85": 34,
        "test": 40,
        "celebrity": 8,
    }
    for name, counts in out["splits"].items():
        n = counts["profiles"]
        assert (counts["multiple_choice"], counts["generation"], counts["cloze"]) == (10 * n, 4 * n, 4 * n), name
    assert out["finetune"]["profiles"] == 40
    assert out["finetune"]["pairs"] >= 14 * 40


def test_forget_splits_are_not_nested_and_retain_is_the_complement(demo):
    ids = {r: {p.id for p in demo.split(Split(f"forget_{r}"))} for r in (5, 10, 15)}
    assert not ids[5] <= ids[10], "forget_5 must not be nested in forget_10, as upstream"
    assert ids[5] & ids[15] - ids[10], "an ID in forget_5 and forget_15 but not forget_10, as upstream's 093"
    full = {p.id for p in demo.split(Split.FULL)}
    for r in (5, 10, 15):
        retain = {p.id for p in demo.split(Split(f"retain_{100 - r}"))}
        assert retain == full - ids[r]
        assert ids[r] == set(FORGET_IDS[r])


def test_profiles_have_questions_of_both_modalities(demo):
    p = demo.split(Split.FULL)[0]
    assert p.name and p.name == p.biography["Name"]
    for task, per_modality in ((Task.CLASSIFICATION, 5), (Task.GENERATION, 2), (Task.CLOZE, 2)):
        for modality in Modality:
            assert len(p.questions(task, modality)) == per_modality
    assert all("__" in q.question for q in p.cloze)
    assert p.portrait().size == (128, 128)
    # Image+text questions say "this person"; text-only ones name the person.
    assert all(p.name not in q.question for q in p.questions(Task.CLASSIFICATION, Modality.IMAGE_TEXT))
    assert all(p.name in q.question for q in p.questions(Task.CLASSIFICATION, Modality.TEXT))


def test_test_split_has_transformed_portraits_and_paraphrases(demo):
    full = {p.id: p for p in demo.split(Split.FULL)}
    for t in demo.split(Split.TEST)[:5]:
        original = full[t.id]
        assert len(t.images) >= 2
        assert original.images[0] not in t.images
        assert [q.question for q in t.multiple_choice] != [q.question for q in original.multiple_choice]
        assert [q.options[q.correct] for q in t.multiple_choice] == [
            q.options[q.correct] for q in original.multiple_choice
        ]


def test_eval_profiles_map_sets_to_splits(demo):
    forget = {p.id for p in demo.eval_profiles(EvalSet.FORGET, 10)}
    assert forget == set(FORGET_IDS[10])
    assert {p.id for p in demo.eval_profiles(EvalSet.TEST, 10)} == forget
    assert len(demo.eval_profiles(EvalSet.RETAIN, 10)) == 36
    assert len(demo.eval_profiles(EvalSet.CELEBRITY, 10)) == 8
    with pytest.raises(ValueError, match="forget ratio"):
        demo.eval_profiles(EvalSet.FORGET, 20)


def test_fingerprint_ignores_sharding_but_sees_content(tmp_path, demo):
    copy = tmp_path / "sharded"
    shutil.copytree(DEMO_DIR, copy)
    full = copy / "Full_Set" / "train-00000-of-00001.parquet"
    table = pq.read_table(full)
    full.unlink()
    pq.write_table(table.slice(0, 15), copy / "Full_Set" / "train-00000-of-00002.parquet")
    pq.write_table(table.slice(15), copy / "Full_Set" / "train-00001-of-00002.parquet")
    assert data.load_benchmark(copy).fingerprint == demo.fingerprint

    bio = table.column("biography").to_pylist()
    bio[0] = bio[0].replace("Name", "Name ")
    edited = table.set_column(table.column_names.index("biography"), "biography", pa.array(bio))
    for f in (copy / "Full_Set").glob("*.parquet"):
        f.unlink()
    pq.write_table(edited, full)
    assert data.load_benchmark(copy).fingerprint != demo.fingerprint


# ---------------------------------------------------------------------------- malformed data


@pytest.fixture
def broken(tmp_path):
    """A copy of the demo and a function that rewrites one folder's table."""
    copy = tmp_path / "bench"
    shutil.copytree(DEMO_DIR, copy)

    def rewrite(folder: str, edit):
        path = copy / folder / "train-00000-of-00001.parquet"
        rows = pq.read_table(path).to_pylist()
        table = edit(rows, pq.read_table(path))
        pq.write_table(table, path)
        return path

    return copy, rewrite


def test_missing_column_is_named(broken):
    copy, rewrite = broken
    path = rewrite("forget_10", lambda rows, t: t.drop_columns(["Mask_Task"]))
    with pytest.raises(data.DatasetError) as e:
        data.load_benchmark(copy)
    assert str(path) in str(e.value) and "'Mask_Task'" in str(e.value)


def test_undecodable_image_is_named(broken):
    copy, rewrite = broken

    def edit(rows, table):
        rows[3]["image"] = {"bytes": b"\xff\xd8not really a jpeg", "path": None}
        return pa.Table.from_pylist(rows, schema=table.schema)

    path = rewrite("Full_Set", edit)
    with pytest.raises(data.DatasetError) as e:
        data.load_benchmark(copy)
    msg = str(e.value)
    assert str(path) in msg and "row 3" in msg and "'image'" in msg and "cannot be decoded" in msg


def test_bad_correct_answer_is_named(broken):
    copy, rewrite = broken

    def edit(rows, table):
        rows[1]["Classification_Task"]["Pure_Text_Questions"][2]["Correct_Answer"] = "E"
        return pa.Table.from_pylist(rows, schema=table.schema)

    path = rewrite("retain_90", edit)
    with pytest.raises(data.DatasetError) as e:
        data.load_benchmark(copy)
    msg = str(e.value)
    assert str(path) in msg and "row 1" in msg
    assert "Classification_Task.Pure_Text_Questions[2].Correct_Answer" in msg and "'E'" in msg


def test_forget_id_absent_from_full_set_is_named(broken):
    copy, rewrite = broken

    def edit(rows, table):
        rows[0]["ID"] = "999"
        return pa.Table.from_pylist(rows, schema=table.schema)

    rewrite("forget_5", edit)
    with pytest.raises(data.DatasetError) as e:
        data.load_benchmark(copy)
    msg = str(e.value)
    assert "forget_5" in msg and "'999'" in msg and "absent from the full set" in msg


def test_not_a_dataset_folder(tmp_path):
    with pytest.raises(data.DatasetError, match="no MLLMU-Bench folders"):
        data.load_benchmark(tmp_path)
    (tmp_path / "Full_Set").mkdir()
    with pytest.raises(data.DatasetError, match="no .parquet files"):
        data.load_benchmark(tmp_path)
    with pytest.raises(data.DatasetError, match="neither 'demo', an existing folder, nor a Hub dataset id"):
        data.load_benchmark(tmp_path / "does-not-exist")


def test_describe_exits_non_zero_with_the_error(tmp_path, capsys):
    assert data.main(["describe", "--data", str(tmp_path)]) == 2
    assert "no MLLMU-Bench folders" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the Hub, offline


def _hub_cache(root: Path, repo: str, commit: str) -> Path:
    """Lay the demo out as huggingface_hub's cache stores a downloaded dataset revision."""
    repo_dir = root / ("datasets--" + repo.replace("/", "--"))
    snap = repo_dir / "snapshots" / commit
    blobs = repo_dir / "blobs"
    blobs.mkdir(parents=True)
    for f in sorted(DEMO_DIR.rglob("*")):
        if f.is_file():
            blob = blobs / f"{abs(hash(f.read_bytes())):x}"
            blob.write_bytes(f.read_bytes())
            target = snap / f.relative_to(DEMO_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(blob, target.parent), target)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    return root


def test_hub_dataset_from_a_prepopulated_cache_offline(tmp_path, demo):
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = _hub_cache(tmp_path / "hub", data.HUB_REPO, commit)
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "benchmark", "describe", "--data", data.HUB_REPO],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["revision"] == commit
    assert out["fingerprint"] == demo.fingerprint
    assert out["splits"]["forget_10"]["profiles"] == 4

    missing = subprocess.run(  # the command's old name, which researchers type, still works
        [sys.executable, "-m", "probes.data", "describe", "--data", "someone/not-cached"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2
    assert "not in the local cache" in missing.stderr
