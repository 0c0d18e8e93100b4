"""Sweep files and the local sweep runner: wandb's own validation, sampled values landing in the instantiated model and
data, one fast_dev_run trial per file, random/grid/bayes with hyperband, run caps, resume after an interruption."""

import math
import subprocess
from pathlib import Path

import optuna
import pytest
import torch
import yaml
from lightning.pytorch.utilities.exceptions import SIGTERMException

import helpers
from helpers import CONFIGS, ROOT
from helpers.wandb_runs import offline_runs, read_offline_run
from lit_vision.sweep.results import format_table, short_names
from lit_vision.sweep.runner import SweepRunner
from lit_vision.sweep.search import decode, make_sampler, search_space
from lit_vision.sweep.spec import load_sweep, sweep_flags, trial_args
from lit_vision.sweep.trial import run_lit_vision

SWEEPS = ROOT / "sweeps"
QUICK_DDP = {
    "accelerator": "cpu",
    "devices": 2,
    "strategy": "ddp",
    "max_epochs": 1,
    "limit_train_batches": 2,
    "limit_val_batches": 1,
    "enable_progress_bar": False,
}
ARCHITECTURES = ("vit", "swin", "convmixer", "fccn", "transformer")
METRICS = {"transformer": "val/exact_match"}


def sweep_files() -> list[Path]:
    return sorted(SWEEPS.glob("*.yaml"))


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_has_a_sweep_that_runs_its_config(arch):
    path = SWEEPS / f"{arch}.yaml"
    assert path.is_file(), f"sweeps/{arch}.yaml is missing"
    sweep = load_sweep(path)
    assert sweep.metric == METRICS.get(arch, "val/acc") and sweep.goal == "maximize"
    args = trial_args(sweep, {})
    assert args[:3] == ["fit", "--config", f"configs/{arch}.yaml"]
    assert (ROOT / args[2]).is_file(), f"{args[2]} (run by sweeps/{arch}.yaml) does not exist"
    assert sweep.early_terminate or sweep.method == "grid"


@pytest.mark.parametrize("path", sweep_files(), ids=lambda p: p.name)
def test_sweep_files_pass_wandbs_own_validation(path):
    sweeps = pytest.importorskip("sweeps", reason="wandb's sweep engine (pip package `sweeps`) is not installed")
    if not hasattr(sweeps, "schema_violations_from_proposed_config"):  # our sweeps/ folder, not wandb's package
        pytest.skip("wandb's sweep engine (pip package `sweeps`) is not installed")
    config = yaml.safe_load(path.read_text())
    assert sweeps.schema_violations_from_proposed_config(config) == []
    run = sweeps.next_run(sweeps.SweepConfig(config), [])  # wandb's own sampler accepts every parameter
    assert set(run.config) == set(config["parameters"])


def sampled_values(path: Path, count: int, seed: int = 0) -> list[dict]:
    """Parameter sets as the local runner samples them (grid: the first points)."""
    sweep = load_sweep(path)
    study = optuna.create_study(sampler=make_sampler(sweep, seed), direction="maximize")
    space = search_space(sweep)
    values = []
    for _ in range(count):
        trial = study.ask(space)
        values.append({**sweep.constants, **{k: decode(v) for k, v in trial.params.items()}})
        study.tell(trial, 0.0)
    return values


def landed(model, datamodule, key: str):
    """The value a CLI key ended up with in the instantiated model, optimizer or DataModule."""
    group, _, name, *rest = key.split(".")
    owner = model if group == "model" else datamodule
    if rest:  # model.init_args.optimizer.init_args.lr
        assert name == "optimizer", key
        optimizer = owner.optimizer_factory([torch.nn.Parameter(torch.zeros(1))])
        return optimizer.defaults[rest[-1]]
    return owner.hparams[name]


def absolute_configs(args: list[str]) -> list[str]:
    return [str(ROOT / a) if a.startswith("configs/") else a for a in args]


@pytest.mark.parametrize("path", sweep_files(), ids=lambda p: p.name)
def test_sampled_values_land_in_the_model_and_data(path, tmp_path, monkeypatch):
    from lit_vision.cli import LitVisionCLI

    monkeypatch.chdir(tmp_path)
    sweep = load_sweep(path)
    if not (ROOT / trial_args(sweep, {})[2]).is_file():
        pytest.skip(f"{trial_args(sweep, {})[2]} does not exist yet")
    for values in sampled_values(path, count=2):
        args = absolute_configs(trial_args(sweep, values))
        assert args[0] == "fit"
        cli = LitVisionCLI(args=args[1:], run=False)
        for key, value in values.items():
            got = landed(cli.model, cli.datamodule, key)
            if isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-12), key
            else:
                assert (list(got) if isinstance(got, tuple) else got) == value, key


@pytest.mark.parametrize("path", sweep_files(), ids=lambda p: p.name)
def test_one_sampled_trial_runs_with_fast_dev_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = load_sweep(path)
    if not (ROOT / trial_args(sweep, {})[2]).is_file():
        pytest.skip(f"{trial_args(sweep, {})[2]} does not exist yet")
    (values,) = sampled_values(path, count=1, seed=1)
    reported = []
    args = absolute_configs(trial_args(sweep, values)) + ["--trainer.fast_dev_run=true"]
    run_lit_vision(args, sweep.metric, lambda value: reported.append(value) or False)
    assert len(reported) == 1 and math.isfinite(reported[0])


def test_flags_are_the_ones_wandb_agent_passes():
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    values = {"model.init_args.depths": [2, 2], "model.init_args.optimizer.init_args.lr": 0.001, "x.flag": True}
    expected = create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})["args"]
    assert sweep_flags(values) == expected


# --- the runner with a stand-in trial: search behaviour without training ---------------------------------------------
def write_sweep(tmp_path: Path, **changes) -> Path:
    config = yaml.safe_load((SWEEPS / "convmixer.yaml").read_text())
    config.update(changes)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def lr_objective(curve: int = 4):
    """A stand-in trial: reports `curve` validations whose value peaks at lr = 3e-3; records the arguments."""
    calls = []

    def run(args, metric, report):
        calls.append(args)
        lr = float(next(a for a in args if "optimizer.init_args.lr=" in a).split("=")[1])
        for step in range(curve):
            if report(-abs(math.log(lr / 3e-3)) + 0.01 * step):
                break
        return {"run_dir": "stand-in"}

    run.calls = calls
    return run


def test_random_sweep_stops_at_run_cap_and_prints_a_table(tmp_path):
    trial = lr_objective()
    runner = SweepRunner(load_sweep(write_sweep(tmp_path, run_cap=4)), tmp_path / "out", trial_fn=trial)
    assert runner.run() == 4 and runner.run() == 0
    rows = runner.results()
    assert [r["state"] for r in rows] == ["complete"] * 4
    assert rows[0]["val/acc"] == max(r["val/acc"] for r in rows)  # best first
    table = format_table(rows)
    assert "lr" in table.splitlines()[0] and "batch_size" in table.splitlines()[0]
    assert runner.write_results().read_text().count("\n") == 5
    assert all(a[:3] == ["fit", "--config", "configs/convmixer.yaml"] for a in trial.calls)


def test_grid_sweep_visits_every_point_once_and_ends(tmp_path):
    trial = lr_objective()
    runner = SweepRunner(load_sweep(SWEEPS / "fccn.yaml"), tmp_path / "out", trial_fn=trial)
    assert runner.run() == 12 and runner.run(count=5) == 0
    points = {tuple(sorted(t.params.items())) for t in runner.study.trials}
    assert len(points) == 12


def test_bayes_with_hyperband_prunes_and_homes_in(tmp_path):
    early = {"type": "hyperband", "min_iter": 1, "eta": 2}
    path = write_sweep(tmp_path, method="bayes", early_terminate=early, run_cap=None)
    runner = SweepRunner(load_sweep(path), tmp_path / "out", trial_fn=lr_objective(curve=8))
    runner.run(count=16)
    states = [t.state.name for t in runner.study.trials]
    assert "PRUNED" in states and states.count("COMPLETE") >= 2
    best = runner.study.best_trial.params["model.init_args.optimizer.init_args.lr"]
    assert abs(math.log(best / 3e-3)) < abs(math.log(0.02 / 3e-3))


@pytest.mark.parametrize(
    "interruption", [KeyboardInterrupt, SystemExit(1), SIGTERMException], ids=["ctrl-c", "exit-1", "sigterm"]
)
def test_interrupted_sweep_resumes_with_the_interrupted_trial_first(tmp_path, interruption):
    path = write_sweep(tmp_path, run_cap=4)
    seen = []

    def interrupt_third(args, metric, report):
        seen.append(args)
        if len(seen) == 3:
            raise interruption
        report(0.5)
        return {}

    first = SweepRunner(load_sweep(path), tmp_path / "out", trial_fn=interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    resumed = SweepRunner(load_sweep(path), tmp_path / "out", trial_fn=lr_objective())
    assert resumed.run() == 2  # the interrupted trial again, then the fourth
    assert resumed.trial_fn.calls[0] == seen[2]
    assert [r["state"] for r in resumed.results()] == ["complete"] * 4


def test_trials_of_a_dead_worker_are_run_again(tmp_path):
    path = write_sweep(tmp_path, run_cap=2)
    dead = SweepRunner(load_sweep(path), tmp_path / "out", trial_fn=lr_objective())
    orphan = dead.study.ask(dead.space)  # a worker took it and died without a heartbeat
    orphan.set_user_attr("heartbeat", 1.0)  # long ago
    runner = SweepRunner(load_sweep(path), tmp_path / "out", trial_fn=lr_objective())
    assert runner.run() == 2
    assert runner.study.trials[orphan.number].state.name == "FAIL"
    assert any(t.user_attrs.get("retry_of") == orphan.number for t in runner.study.trials)


def test_failing_trials_are_recorded_and_a_broken_sweep_stops(tmp_path):
    def broken(args, metric, report):
        raise ValueError("model.init_args.depth: bad value")

    runner = SweepRunner(load_sweep(write_sweep(tmp_path)), tmp_path / "out", trial_fn=broken)
    with pytest.raises(ValueError, match="3 trials in a row failed"):
        runner.run(count=10)
    assert [r["state"] for r in runner.results()] == ["fail"] * 3
    assert "bad value" in runner.results()[0]["run"]


def test_a_changed_sweep_file_is_not_resumed_silently(tmp_path):
    SweepRunner(load_sweep(write_sweep(tmp_path)), tmp_path / "out", trial_fn=lr_objective())
    with pytest.raises(ValueError, match="changed since this sweep started"):
        SweepRunner(load_sweep(write_sweep(tmp_path, method="bayes")), tmp_path / "out", trial_fn=lr_objective())


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"method": "hill"}, "method='hill' is not supported"),
        ({"metric": {"goal": "maximize"}}, "metric.name is missing"),
        (
            {"parameters": {"model.init_args.dim": {"distribution": "normal", "mu": 0, "sigma": 1}}},
            "'normal' is not supported",
        ),
        ({"method": "grid"}, "grid search needs values"),
        ({"command": ["python", "train.py", "${args}"]}, "command does not run lit-vision"),
        ({"early_terminate": {"type": "envelope"}}, "early_terminate.type must be hyperband"),
    ],
)
def test_bad_sweep_files_fail_with_one_clear_line(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        load_sweep(write_sweep(tmp_path, **changes))


def test_invalid_yaml_fails_with_one_clear_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("method: random\ncommand: [lit-vision, fit, ${args}]\n")
    with pytest.raises(ValueError, match="is not valid YAML at line 2"):
        load_sweep(path)


def test_short_names_widen_only_where_they_clash():
    keys = [
        "model.init_args.optimizer.init_args.lr",
        "data.init_args.batch_size",
        "model.init_args.drop_rate",
        "data.init_args.drop_rate",
    ]
    assert short_names(keys) == {
        "model.init_args.optimizer.init_args.lr": "optimizer.lr",
        "data.init_args.batch_size": "data.batch_size",
        "model.init_args.drop_rate": "model.drop_rate",
        "data.init_args.drop_rate": "data.drop_rate",
    }


# --- the real command: trials are normal offline runs ----------------------------------------------------------------
def test_lit_vision_sweep_runs_offline_ddp_trials_and_writes_results(tmp_path, monkeypatch):
    """The real command, two trials, each a 2-process DDP fit on the CPU started by Lightning's launcher: rank 0 asks
    the study once per trial and rank 1 runs the same trial (the trials differ in depth: ranks with different trials
    could not train together); runs are offline wandb runs named after the sweep; `--config` reaches every trial."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(CONFIGS)
    (tmp_path / "quick.yaml").write_text(yaml.safe_dump({"trainer": QUICK_DDP}))
    result = helpers.run_lit_vision(
        "sweep", str(SWEEPS / "convmixer.yaml"), "--count", "2", "--out_dir", "out", "--config", "quick.yaml",
        cwd=tmp_path, timeout=300, env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "sweep convmixer-digits (random, maximize val/acc)" in out and "results: out/results.csv" in out
    assert out.count("lit-vision sweep: trial ") == 2  # rank 1 asked the study for nothing
    rows = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",complete," in row for row in rows[1:])
    runs = [read_offline_run(path, wait_s=30) for path in offline_runs(tmp_path / "logs")]
    assert len(runs) == 2 and {run.group for run in runs} == {"convmixer-digits"}
    assert sorted(run.name for run in runs) == ["convmixer-digits-000", "convmixer-digits-001"]
    assert {run.config["trainer"]["devices"] for run in runs} == {2}
    depths = sorted(run.config["model"]["init_args"]["depth"] for run in runs)
    study = sorted(
        t.params["model.init_args.depth"]
        for t in SweepRunner(load_sweep(SWEEPS / "convmixer.yaml"), "out").study.trials
    )
    assert depths == study  # the sampled values reached each run's config


def test_slurm_sweep_agent_runs_one_trial_per_array_task(tmp_path):
    script = ROOT / "scripts" / "slurm" / "sweep_agent.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for command in ("srun", "wandb", "lit-vision"):
        (fake_bin / command).write_text('#!/bin/bash\necho "$(basename "$0") $*"\n')
        (fake_bin / command).chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "SLURM_ARRAY_TASK_ID": "3"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True)

    assert "srun wandb agent --count 1 me/lit-vision/abc123" in run("me/lit-vision/abc123").stdout
    offline = run("--offline", "sweeps/swin.yaml", "/shared/swin")
    assert "srun lit-vision sweep sweeps/swin.yaml --count 1 --out_dir /shared/swin" in offline.stdout
    assert run().returncode == 2


def test_sweep_configs_stack_between_the_command_and_the_sampled_values():
    sweep = load_sweep(SWEEPS / "convmixer.yaml")
    args = trial_args(sweep, {"model.init_args.depth": 2}, configs=["a.yaml", "b.yaml"])
    own = trial_args(sweep, {})
    assert args == [*own, "--config", "a.yaml", "--config", "b.yaml", "--model.init_args.depth=2"]


def test_sweep_command_has_its_own_help_and_one_line_errors(capsys):
    from lit_vision.commands import main

    with pytest.raises(SystemExit) as done:
        main(["sweep", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lit-vision sweep") and "--config FILE" in out and "--count" in out
    with pytest.raises(SystemExit) as done:
        main(["sweep", str(SWEEPS / "convmixer.yaml"), "--config", "missing.yaml"])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1
    assert err[0].startswith("lit-vision: error: --config 'missing.yaml' does not exist")
