"""A DDP sweep trial: rank 0 asks the study once and every other rank runs the same trial."""

import json

import pytest
import yaml

from helpers import CONFIGS, ROOT, run_lit_vision
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


def test_ddp_sweep_on_cpu_runs_each_trial_on_both_ranks(tmp_path):
    """Two trials, each a 2-process DDP fit started by Lightning's launcher: the trials differ in depth, so ranks
    with different trials could not train together; the study holds exactly the two trials rank 0 asked for."""
    (tmp_path / "configs").symlink_to(CONFIGS)
    quick = tmp_path / "quick.yaml"
    quick.write_text(
        yaml.safe_dump(
            {
                "trainer": {
                    "accelerator": "cpu",
                    "devices": 2,
                    "strategy": "ddp",
                    "max_epochs": 1,
                    "limit_train_batches": 2,
                    "limit_val_batches": 1,
                    "enable_progress_bar": False,
                },
                "test_after_fit": False,
            }
        )
    )
    result = run_lit_vision(
        "sweep", str(SWEEP), "--count", "2", "--out_dir", "out", "--config", str(quick),
        cwd=tmp_path, timeout=300, env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",complete," in row for row in rows[1:]), rows
    assert result.stdout.count("lit-vision sweep: trial ") == 2  # rank 1 asked for nothing
