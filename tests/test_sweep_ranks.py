"""A DDP sweep trial: rank 0 asks the study once and every other rank runs the same trial (the real DDP run on the
CPU is tests/test_sweeps.py::test_lit_vision_sweep_runs_offline_ddp_trials_and_writes_results)."""

import json

import pytest

from helpers import ROOT
from lit_vision.sweep.ranks import TRIAL_ENV
from lit_vision.sweep.runner import SweepRunner
from lit_vision.sweep.spec import load_sweep

SWEEP = ROOT / "sweeps" / "convmixer.yaml"


def recording_trial(calls: list):
    def run(args, metric, report):
        calls.append(args)
        report(0.5)
        return {}

    return run


def test_external_launch_rank_0_posts_each_trial_and_the_others_run_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("RANK", "0")
    leader_calls, follower_calls = [], []
    leader = SweepRunner(load_sweep(SWEEP), tmp_path / "out", trial_fn=recording_trial(leader_calls))
    assert leader.run(count=2) == 2
    monkeypatch.setenv("RANK", "1")
    follower = SweepRunner(load_sweep(SWEEP), tmp_path / "out", trial_fn=recording_trial(follower_calls))
    assert follower.study is None  # only rank 0 asks the study
    assert follower.run(count=2) == 2
    assert follower_calls == leader_calls and len(leader.study.trials) == 2


def test_a_rank_started_by_lightnings_launcher_runs_the_inherited_trial_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv(TRIAL_ENV, json.dumps({"number": 7, "args": ["fit", "--x=1"]}))
    calls = []
    runner = SweepRunner(load_sweep(SWEEP), tmp_path / "out", trial_fn=recording_trial(calls))
    assert runner.run(count=5) == 1 and calls == [["fit", "--x=1"]]
    assert not (tmp_path / "out").exists()


def test_a_rank_with_no_way_to_reach_rank_0_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    runner = SweepRunner(load_sweep(SWEEP), tmp_path / "out", trial_fn=recording_trial([]))
    with pytest.raises(ValueError, match="cannot reach rank 0's trials"):
        runner.run(count=1)
