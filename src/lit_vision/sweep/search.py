"""The search engine: optuna, with wandb's methods mapped onto it and the study kept in a journal file.

`random` -> RandomSampler, `grid` -> GridSampler, `bayes` -> GPSampler (Gaussian-process Bayesian optimization, as
wandb's), `early_terminate: hyperband` -> HyperbandPruner. The study lives in `<out_dir>/study.journal`, so an
interrupted sweep resumes and several processes (a SLURM array) can share it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import yaml

from lit_vision.sweep.spec import SweepFile, distribution

JSON_PREFIX = "json:"  # optuna choices are scalars; list values (Swin depths) travel as JSON strings


def search_space(sweep: SweepFile) -> dict[str, Any]:
    """optuna distributions of the sampled (non-constant) parameters."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space: dict[str, Any] = {}
    for name, spec in sweep.parameters.items():
        kind = distribution(spec)
        if kind == "constant":
            continue
        if sweep.method == "grid":
            space[name] = CategoricalDistribution([encode(v) for v in grid_values(spec)])
        elif kind == "categorical":
            space[name] = CategoricalDistribution([encode(v) for v in spec["values"]])
        elif kind == "int_uniform":
            space[name] = IntDistribution(int(spec["min"]), int(spec["max"]))
        elif kind == "uniform":
            space[name] = FloatDistribution(float(spec["min"]), float(spec["max"]))
        elif kind == "q_uniform":
            space[name] = FloatDistribution(float(spec["min"]), float(spec["max"]), step=float(spec.get("q", 1.0)))
        elif kind == "log_uniform_values":
            space[name] = FloatDistribution(float(spec["min"]), float(spec["max"]), log=True)
        elif kind == "log_uniform":  # wandb: min and max are natural logarithms of the bounds
            space[name] = FloatDistribution(math.exp(spec["min"]), math.exp(spec["max"]), log=True)
    return space


def grid_values(spec: dict[str, Any]) -> list[Any]:
    kind = distribution(spec)
    if kind == "categorical":
        return list(spec["values"])
    if kind == "int_uniform":
        return list(range(int(spec["min"]), int(spec["max"]) + 1))
    if kind == "q_uniform":
        q = float(spec.get("q", 1.0))
        return [spec["min"] + i * q for i in range(int(math.floor((spec["max"] - spec["min"]) / q + 1e-9)) + 1)]
    return [spec["value"]]


def grid_size(sweep: SweepFile) -> int:
    return math.prod(len(grid_values(spec)) for spec in sweep.parameters.values() if distribution(spec) != "constant")


def encode(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else JSON_PREFIX + json.dumps(value)


def decode(value: Any) -> Any:
    return json.loads(value[len(JSON_PREFIX) :]) if isinstance(value, str) and value.startswith(JSON_PREFIX) else value


def trial_values(sweep: SweepFile, params: dict[str, Any]) -> dict[str, Any]:
    """Every parameter of a trial: the file's constants and the trial's decoded samples."""
    return {**sweep.constants, **{name: decode(value) for name, value in params.items()}}


def make_sampler(sweep: SweepFile, seed: int):
    import optuna

    if sweep.method == "grid":
        space = {name: list(dist.choices) for name, dist in search_space(sweep).items()}
        return _grid_sampler_class()(space, seed=seed)
    if sweep.method == "bayes":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)


def _grid_sampler_class():
    from optuna.samplers import GridSampler

    class GridWithoutStop(GridSampler):
        """GridSampler that leaves stopping to the runner: `Study.stop` only works inside `optimize`, not ask/tell."""

        def after_trial(self, study, trial, state, values) -> None:
            return None

    return GridWithoutStop


def make_pruner(sweep: SweepFile):
    import optuna

    early = sweep.early_terminate
    if not early:
        return optuna.pruners.NopPruner()
    eta = int(early.get("eta", 3))
    max_iter = early.get("max_iter")
    min_iter = early.get("min_iter") or max(1, int(max_iter) // eta ** int(early.get("s", 2)))
    return optuna.pruners.HyperbandPruner(
        min_resource=int(min_iter), max_resource=int(max_iter) if max_iter else "auto", reduction_factor=eta
    )


def open_study(sweep: SweepFile, out_dir: Path, seed: int = 0):
    """The sweep's optuna study in `out_dir/study.journal` (created on first use, resumed after)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    out_dir.mkdir(parents=True, exist_ok=True)
    saved = out_dir / "sweep.yaml"
    if saved.is_file():
        before = yaml.safe_load(saved.read_text())
        keys = ("method", "metric", "parameters", "early_terminate")
        if any(before.get(k) != sweep.raw.get(k) for k in keys):
            raise ValueError(
                f"{sweep.path} changed since this sweep started ({saved} holds the original); "
                "restore it or pass a new --out_dir"
            )
    else:
        saved.write_text(yaml.safe_dump(sweep.raw, sort_keys=False))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(out_dir / "study.journal")))
    study = optuna.create_study(study_name=sweep.name, storage=storage, direction=sweep.goal, load_if_exists=True)
    # a fresh seed per session and SLURM task, so resumed or parallel workers do not repeat each other's samples
    task = int(os.environ.get("SLURM_ARRAY_TASK_ID", "0") or 0)
    study.sampler = make_sampler(sweep, seed + 7919 * task + len(study.trials))
    study.pruner = make_pruner(sweep)
    return study
