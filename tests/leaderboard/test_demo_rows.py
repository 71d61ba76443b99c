"""The demo checkpoints' evaluated results are seeded into a fresh store as approved rows of their own board."""

from __future__ import annotations

from benchmark.vocabulary import Protocol
from leaderboard.service import DEMO_RESULTS, Leaderboard, LeaderboardSettings
from leaderboard.store import RowKind, Status


def test_fresh_store_has_the_demo_rows(tmp_path):
    board = Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "lb.sqlite"))
    demo = [s for s in board.submissions(Status.APPROVED) if s.submission.metadata.model_name.startswith("demo-")]
    names = sorted(s.submission.metadata.model_name for s in demo)
    assert names == ["demo-ga", "demo-graddiff", "demo-npo", "demo-prompting", "demo-retain", "demo-vanilla"]
    assert len(list(DEMO_RESULTS.glob("*.submission.json"))) == 6
    for s in demo:
        assert s.submission.metadata.forget_ratio == 10 and len(s.submission.cells) == 48
        assert all(c.ci_low is not None for c in s.submission.cells)  # the samples gave intervals
    assert {s.kind for s in demo} == {RowKind.DEMO}
    real = board.table(Protocol.OFFICIAL)
    assert not real.frame["model_name"].str.startswith("demo").any()  # never ranked among real rows
    toys = board.table(Protocol.OFFICIAL, kinds=(RowKind.DEMO,)).frame
    assert set(toys["model_name"]) == {"demo-vanilla", "demo-ga", "demo-graddiff", "demo-npo", "demo-retain",
                                       "demo-prompting"}
    assert toys["rank"].notna().all() and toys["coverage"].eq(24).all()  # complete: ranked among themselves
    assert toys["combined_low"].notna().all()  # the samples' intervals give the combined score one
    # Reopening does not seed twice.
    again = Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "lb.sqlite"))
    assert len(again.submissions(Status.APPROVED)) == len(board.submissions(Status.APPROVED))


def test_demo_seeding_can_be_turned_off(tmp_path):
    board = Leaderboard.open(LeaderboardSettings(db_path=tmp_path / "lb.sqlite", seed_demo=False))
    assert not [s for s in board.submissions() if s.submission.metadata.model_name.startswith("demo-")]
