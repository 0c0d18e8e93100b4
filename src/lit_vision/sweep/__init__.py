"""`lit-vision sweep SWEEP.yaml`: run a wandb sweep file with no wandb server.

The same file serves `wandb sweep` + `wandb agent` and this runner. Here optuna is the search engine: `random` ->
RandomSampler, `grid` -> GridSampler, `bayes` -> GPSampler (Gaussian-process Bayesian optimization, as wandb's),
`early_terminate: hyperband` -> HyperbandPruner, stepping once per validation. Each trial is a normal `lit-vision fit`
run in this process, built from the file's `command` with `${args}` expanded exactly as `wandb agent` does
(`--key=value`), logged offline unless WANDB_MODE says otherwise. The study lives in an optuna journal file under the
output directory, so an interrupted sweep resumes (the interrupted trial first) when the same command runs again, and
several processes (a SLURM array) can share it.

    lit-vision sweep sweeps/swin.yaml --count 10                      # ten trials, then the results table
    lit-vision sweep sweeps/swin.yaml                                 # until the file's run_cap (or the grid's end)
    lit-vision sweep sweeps/swin.yaml --count 2 -- --trainer.max_epochs 3   # extra arguments for every trial
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METHODS = ("random", "grid", "bayes")
GOALS = {"maximize": "maximize", "minimize": "minimize"}
ARGS_MACROS = ("${args}", "${args_no_equals}", "${args_no_boolean_flags}")
DROPPED_MACROS = ("${env}", "${interpreter}")
PROGRAMS = ("lit-vision", "lit_vision.cli")
UNSUPPORTED = {
    "inv_log_uniform",
    "inv_log_uniform_values",
    "q_log_uniform",
    "q_log_uniform_values",
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
    "beta",
    "q_beta",
}
HEARTBEAT_S = 30.0
STALE_AFTER_S = 120.0
MAX_FAILURES_IN_A_ROW = 3
JSON_PREFIX = "json:"  # optuna choices are scalars; list values (Swin depths) travel as JSON strings


# --- the sweep file ------------------------------------------------------------------------------------------------
@dataclass
class SweepFile:
    path: Path
    name: str
    method: str
    metric: str
    goal: str
    parameters: dict[str, dict[str, Any]]
    command: list[str]
    early_terminate: dict[str, Any] | None = None
    run_cap: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def constants(self) -> dict[str, Any]:
        return {name: spec["value"] for name, spec in self.parameters.items() if _distribution(spec) == "constant"}


def load_sweep(path: str | os.PathLike) -> SweepFile:
    """Read and check a sweep file for what this runner needs; errors name the key, the value and the fix."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file {str(path)!r} does not exist; pass e.g. sweeps/swin.yaml")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(
            f"{path} is not valid YAML{where}: {getattr(error, 'problem', error)} "
            "(write ${args} in a block list item, not inside [...])"
        ) from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a sweep file is a mapping with method, metric, parameters and command")
    method = config.get("method")
    if method not in METHODS:
        raise ValueError(f"{path}: method={method!r} is not supported; use one of {', '.join(METHODS)}")
    metric = config.get("metric") or {}
    if not isinstance(metric, dict) or not metric.get("name"):
        raise ValueError(f"{path}: metric.name is missing; the runner ranks trials by it (e.g. name: val/acc)")
    goal = metric.get("goal", "minimize")
    if goal not in GOALS:
        raise ValueError(f"{path}: metric.goal={goal!r} must be maximize or minimize")
    parameters = config.get("parameters") or {}
    if not isinstance(parameters, dict) or not parameters:
        raise ValueError(f"{path}: parameters is empty; give each CLI key a value, values or a distribution")
    for name, spec in parameters.items():
        _check_parameter(path, name, spec, method)
    command = config.get("command")
    if not isinstance(command, list) or not any(str(c) in ARGS_MACROS for c in command):
        raise ValueError(
            f"{path}: command must be a list that runs lit-vision with ${{args}}, e.g. "
            "[${env}, lit-vision, fit, --config, configs/swin.yaml, ${args}]"
        )
    _program_index(path, command)
    early = config.get("early_terminate")
    if early is not None:
        if not isinstance(early, dict) or early.get("type") != "hyperband":
            raise ValueError(f"{path}: early_terminate.type must be hyperband")
        if not (early.get("min_iter") or early.get("max_iter")):
            raise ValueError(f"{path}: early_terminate needs min_iter (or max_iter and s)")
    run_cap = config.get("run_cap")
    if run_cap is not None and (not isinstance(run_cap, int) or run_cap < 1):
        raise ValueError(f"{path}: run_cap={run_cap!r} must be a positive integer")
    return SweepFile(
        path=path,
        name=str(config.get("name") or path.stem),
        method=method,
        metric=metric["name"],
        goal=goal,
        parameters=parameters,
        command=[str(c) for c in command],
        early_terminate=early,
        run_cap=run_cap,
        raw=config,
    )


def _distribution(spec: dict[str, Any]) -> str:
    if "distribution" in spec:
        return spec["distribution"]
    if "value" in spec:
        return "constant"
    if "values" in spec:
        return "categorical"
    if isinstance(spec.get("min"), int) and isinstance(spec.get("max"), int):
        return "int_uniform"
    return "uniform"


def _check_parameter(path: Path, name: str, spec: Any, method: str) -> None:
    where = f"{path}: parameters.{name}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a mapping such as {{values: [...]}} or {{distribution: ..., min, max}}")
    if "parameters" in spec:
        raise ValueError(f"{where} nests parameters; write the full CLI key instead (e.g. model.init_args.depth)")
    kind = _distribution(spec)
    if kind in UNSUPPORTED:
        raise ValueError(
            f"{where}: distribution {kind!r} is not supported by the local runner; use uniform, log_uniform_values, "
            "int_uniform, q_uniform or values"
        )
    if kind == "categorical":
        if not isinstance(spec["values"], list) or not spec["values"]:
            raise ValueError(f"{where}.values must be a non-empty list")
        if "probabilities" in spec:
            raise ValueError(f"{where}.probabilities is not supported by the local runner; drop it")
    elif kind not in ("constant",):
        if "min" not in spec or "max" not in spec or not spec["min"] < spec["max"]:
            raise ValueError(f"{where} needs min < max (got min={spec.get('min')!r}, max={spec.get('max')!r})")
        if kind == "log_uniform_values" and spec["min"] <= 0:
            raise ValueError(f"{where}: log_uniform_values needs min > 0 (got {spec['min']})")
        if kind not in ("int_uniform", "uniform", "q_uniform", "log_uniform", "log_uniform_values"):
            raise ValueError(f"{where}: unknown distribution {kind!r}")
    if method == "grid" and kind not in ("constant", "categorical", "int_uniform", "q_uniform"):
        raise ValueError(f"{where}: grid search needs values (or int_uniform / q_uniform), not {kind!r}")


def _program_index(path: Path, command: list[Any]) -> int:
    for index, part in enumerate(command):
        if str(part) in PROGRAMS or str(part).endswith("/lit-vision"):
            return index
    raise ValueError(f"{path}: command does not run lit-vision (e.g. [${{env}}, lit-vision, fit, ..., ${{args}}])")


def sweep_flags(values: dict[str, Any]) -> list[str]:
    """The `${args}` of `wandb agent`: one `--key=value` per sampled parameter, value as Python's str()."""
    return [f"--{name}={value}" for name, value in values.items()]


def trial_args(sweep: SweepFile, values: dict[str, Any]) -> list[str]:
    """`lit-vision` arguments (after the program name) of one trial: the command with its macros expanded."""
    args: list[str] = []
    for part in sweep.command[_program_index(sweep.path, sweep.command) + 1 :]:
        if part in ARGS_MACROS:
            args += sweep_flags(values) if part != "${args_no_equals}" else _no_equals(values)
        elif part in DROPPED_MACROS:
            continue
        elif part.startswith("${"):
            raise ValueError(f"{sweep.path}: command macro {part} is not supported by the local runner; use ${{args}}")
        else:
            args.append(part)
    return args


def _no_equals(values: dict[str, Any]) -> list[str]:
    return [piece for name, value in values.items() for piece in (f"--{name}", str(value))]


# --- the search engine: optuna -------------------------------------------------------------------------------------
def search_space(sweep: SweepFile) -> dict[str, Any]:
    """optuna distributions of the sampled (non-constant) parameters."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space: dict[str, Any] = {}
    for name, spec in sweep.parameters.items():
        kind = _distribution(spec)
        if kind == "constant":
            continue
        if sweep.method == "grid":
            space[name] = CategoricalDistribution([_encode(v) for v in grid_values(spec)])
        elif kind == "categorical":
            space[name] = CategoricalDistribution([_encode(v) for v in spec["values"]])
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
    kind = _distribution(spec)
    if kind == "categorical":
        return list(spec["values"])
    if kind == "int_uniform":
        return list(range(int(spec["min"]), int(spec["max"]) + 1))
    if kind == "q_uniform":
        q = float(spec.get("q", 1.0))
        return [spec["min"] + i * q for i in range(int(math.floor((spec["max"] - spec["min"]) / q + 1e-9)) + 1)]
    return [spec["value"]]


def grid_size(sweep: SweepFile) -> int:
    return math.prod(len(grid_values(spec)) for spec in sweep.parameters.values() if _distribution(spec) != "constant")


def _encode(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else JSON_PREFIX + json.dumps(value)


def _decode(value: Any) -> Any:
    return json.loads(value[len(JSON_PREFIX) :]) if isinstance(value, str) and value.startswith(JSON_PREFIX) else value


def make_sampler(sweep: SweepFile, seed: int):
    import optuna

    if sweep.method == "grid":
        space = {name: list(dist.choices) for name, dist in search_space(sweep).items()}
        return _GridSampler(space, seed=seed)
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


def _GridSampler(space: dict[str, list[Any]], seed: int):
    return _grid_sampler_class()(space, seed=seed)


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
    study = optuna.create_study(
        study_name=sweep.name, storage=storage, direction=GOALS[sweep.goal], load_if_exists=True
    )
    # a fresh seed per session and SLURM task, so resumed or parallel workers do not repeat each other's samples
    task = int(os.environ.get("SLURM_ARRAY_TASK_ID", "0") or 0)
    study.sampler = make_sampler(sweep, seed + 7919 * task + len(study.trials))
    study.pruner = make_pruner(sweep)
    return study


# --- one trial: an in-process `lit-vision fit` ---------------------------------------------------------------------
Report = Callable[[float], bool]  # metric value after a validation -> True when the trial should stop (pruned)


def make_reporter(metric: str, report: Report):
    from lightning import Callback

    class SweepReporter(Callback):
        """Hands the sweep metric to the search after every validation; stops the run when it is pruned."""

        def on_validation_end(self, trainer, pl_module) -> None:
            if trainer.sanity_checking or not trainer.is_global_zero:
                return
            value = trainer.callback_metrics.get(metric)
            if value is not None and report(float(value)):
                trainer.should_stop = True

    return SweepReporter()


def run_lit_vision(args: list[str], metric: str, report: Report) -> dict[str, Any]:
    """Run one trial as `lit-vision ARGS`; returns where it was logged."""
    from lit_vision.callbacks.save_config import run_dir
    from lit_vision.cli import LitVisionCLI

    cli = LitVisionCLI(args=args, trainer_defaults={"callbacks": [make_reporter(metric, report)]})
    logger = cli.trainer.logger
    info: dict[str, Any] = {"run_dir": run_dir(cli.trainer)}
    if logger is not None and logger.version is not None:
        info["run_id"] = str(logger.version)
    return info


TrialFn = Callable[[list[str], str, Report], dict[str, Any]]


# --- the runner ----------------------------------------------------------------------------------------------------
class SweepRunner:
    """Asks optuna for parameters, runs each trial with `trial_fn` (default: `lit-vision fit` in this process),
    reports the metric per validation for early termination, and tells the study the last value (wandb's summary)."""

    def __init__(
        self,
        sweep: SweepFile,
        out_dir: str | os.PathLike | None = None,
        seed: int = 0,
        extra_args: Sequence[str] = (),
        trial_fn: TrialFn = run_lit_vision,
    ) -> None:
        self.sweep = sweep
        self.out_dir = Path(out_dir) if out_dir else Path("logs") / "sweeps" / sweep.name
        self.extra_args = list(extra_args)
        self.trial_fn = trial_fn
        self.study = open_study(sweep, self.out_dir, seed)
        self.space = search_space(sweep)

    # bookkeeping over the shared study
    def counted_trials(self) -> list[Any]:
        """Trials that count toward run_cap and the grid: all but interrupted ones (those are run again)."""
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
        live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        return [t for t in trials if t.state in live or (t.state == TrialState.FAIL and t.number not in retried)]

    def recover_stale(self, stale_after_s: float = STALE_AFTER_S) -> list[int]:
        """Trials left RUNNING by a process that died (no heartbeat): failed and queued again with the same values."""
        from optuna.trial import TrialState

        now, recovered = time.time(), []
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            beat = trial.user_attrs.get("heartbeat")
            beat = trial.datetime_start.timestamp() if beat is None else beat
            if now - beat > stale_after_s:
                self.study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
                self.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
                recovered.append(trial.number)
        return recovered

    def remaining(self, run_cap: int | None) -> int | None:
        caps = [c for c in (run_cap, grid_size(self.sweep) if self.sweep.method == "grid" else None) if c]
        return max(0, min(caps) - len(self.counted_trials())) if caps else None

    def run(self, count: int | None = None, run_cap: int | None = None) -> int:
        """Run up to `count` trials (all that the cap or the grid leave when None); returns how many ran."""
        run_cap = run_cap or self.sweep.run_cap
        if count is None and run_cap is None and self.sweep.method != "grid":
            raise ValueError(f"{self.sweep.path} has no run_cap; pass --count N (or --run_cap N) to bound the sweep")
        recovered = self.recover_stale()
        if recovered:
            print(f"lit-vision sweep: trials {recovered} were interrupted; running them again first", flush=True)
        ran, failures = 0, 0
        while count is None or ran < count:
            left = self.remaining(run_cap)
            if left == 0:
                break
            failed = self.run_one()
            ran += 1
            failures = failures + 1 if failed else 0
            if failures >= MAX_FAILURES_IN_A_ROW:
                raise ValueError(
                    f"{failures} trials in a row failed (last: {failed}); fix the sweep file or the config and rerun"
                )
        return ran

    def run_one(self) -> str | None:
        """One trial; returns its failure message, or None when it completed or was pruned."""
        from optuna.trial import TrialState

        trial = self.study.ask(self.space)
        values = {**self.sweep.constants, **{name: _decode(v) for name, v in trial.params.items()}}
        args = [*trial_args(self.sweep, values), *self.extra_args]
        trial.set_user_attr("args", args)
        reported: list[float] = []
        pruned = False

        def report(value: float) -> bool:
            nonlocal pruned
            reported.append(value)
            trial.report(value, step=len(reported))
            pruned = pruned or trial.should_prune()
            return pruned

        print(f"lit-vision sweep: trial {trial.number}: {' '.join(sweep_flags(values))}", flush=True)
        heartbeat = _Heartbeat(trial)
        started = time.time()
        try:
            with _trial_environment(self.sweep.name, trial.number):
                info = self.trial_fn(args, self.sweep.metric, report)
        except KeyboardInterrupt as error:
            self._interrupted(trial, heartbeat)
            raise KeyboardInterrupt from error
        except SystemExit as error:
            # Lightning ends a Ctrl-C with exit(1) and a SIGTERM (SLURM's time limit) with SIGTERMException
            if error.code == 1 or type(error).__name__ == "SIGTERMException":
                self._interrupted(trial, heartbeat)
                raise KeyboardInterrupt from error
            reason = ": invalid arguments (see the error above)" if error.code == 2 else ""
            return self._failed(trial, heartbeat, f"exit {error.code}{reason}")
        except Exception as error:  # a failed trial must not end the sweep
            return self._failed(trial, heartbeat, f"{type(error).__name__}: {str(error).strip().splitlines()[0]}")
        heartbeat.stop()
        for key, value in info.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("duration_s", round(time.time() - started, 1))
        if pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
            return None
        if not reported or not math.isfinite(reported[-1]):
            return self._failed(trial, None, f"metric {self.sweep.metric!r} was never logged (or not finite)")
        self.study.tell(trial, reported[-1])
        return None

    def _failed(self, trial, heartbeat: _Heartbeat | None, message: str) -> str:
        from optuna.trial import TrialState

        if heartbeat is not None:
            heartbeat.stop()
        trial.set_user_attr("error", message)
        self.study.tell(trial, state=TrialState.FAIL)
        print(f"lit-vision sweep: trial {trial.number} failed: {message}", file=sys.stderr, flush=True)
        return message

    def _interrupted(self, trial, heartbeat: _Heartbeat) -> None:
        from optuna.trial import TrialState

        heartbeat.stop()
        self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        self.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})

    # results
    def results(self) -> list[dict[str, Any]]:
        """One row per trial (interrupted ones left out), best first."""
        from optuna.trial import TrialState

        names = short_names(list(self.sweep.parameters))
        rows = []
        for trial in self.counted_trials():
            values = {**self.sweep.constants, **{n: _decode(v) for n, v in trial.params.items()}}
            value = trial.value if trial.state == TrialState.COMPLETE else _last(trial.intermediate_values)
            row = {"trial": trial.number, "state": trial.state.name.lower(), self.sweep.metric: value}
            row.update(
                {names[name]: values.get(name) for name in self.sweep.parameters if name not in self.sweep.constants}
            )
            row["duration_s"] = trial.user_attrs.get("duration_s")
            row["run"] = (
                trial.user_attrs.get("run_id") or trial.user_attrs.get("run_dir") or trial.user_attrs.get("error")
            )
            rows.append(row)
        sign = -1 if self.sweep.goal == "maximize" else 1
        order = {"complete": 0, "pruned": 1, "running": 2, "fail": 3}
        rows.sort(
            key=lambda r: (
                order.get(r["state"], 4),
                sign * r[self.sweep.metric] if r[self.sweep.metric] is not None else 0,
            )
        )
        return rows

    def write_results(self) -> Path:
        rows = self.results()
        path = self.out_dir / "results.csv"
        columns = list(rows[0]) if rows else ["trial", "state", self.sweep.metric]
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return path


def _last(values: dict[int, float]) -> float | None:
    return values[max(values)] if values else None


def short_names(keys: list[str]) -> dict[str, str]:
    """`model.init_args.optimizer.init_args.lr` -> `lr`, with more of the key where two would clash."""

    def parts(key: str) -> list[str]:
        return [p for p in key.split(".") if p != "init_args"]

    for depth in range(1, max((len(parts(k)) for k in keys), default=1) + 1):
        names = {k: ".".join(parts(k)[-depth:]) for k in keys}
        if len(set(names.values())) == len(keys):
            return names
    return {k: k for k in keys}


def format_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no trials)"
    columns = list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class _Heartbeat:
    """Marks the trial alive every HEARTBEAT_S seconds, so other workers can tell a dead trial from a slow one."""

    def __init__(self, trial) -> None:
        self.trial = trial
        self._stop = threading.Event()
        trial.set_user_attr("heartbeat", time.time())
        self._thread = threading.Thread(target=self._beat, daemon=True, name="sweep-heartbeat")
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.trial.set_user_attr("heartbeat", time.time())
            except Exception:  # the trial finished meanwhile
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _trial_environment:
    """Offline logging (unless WANDB_MODE is set) and the sweep as the wandb group, run name `<sweep>-<trial>`."""

    def __init__(self, sweep_name: str, number: int) -> None:
        self.values = {"WANDB_RUN_GROUP": sweep_name, "WANDB_NAME": f"{sweep_name}-{number:03d}"}
        if "WANDB_MODE" not in os.environ:
            self.values["WANDB_MODE"] = "offline"
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: Any) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --- command line --------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(
        prog="lit-vision sweep",
        description="Run a wandb sweep file locally (no wandb server): optuna search, offline runs, resumable.",
        epilog="Arguments after `--` are added to every trial, e.g. `-- --trainer.max_epochs 3`.",
    )
    parser.add_argument("sweep_file", help="a wandb sweep file, e.g. sweeps/swin.yaml")
    parser.add_argument("--count", type=int, default=None, help="trials to run now (default: until run_cap)")
    parser.add_argument("--run_cap", type=int, default=None, help="total trials of the sweep (default: the file's)")
    parser.add_argument("--out_dir", default=None, help="study state and results (default: logs/sweeps/<name>)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the search (default: 0)")
    args = parser.parse_args(argv)
    for name in ("count", "run_cap"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name}={value} must be >= 1")
    return args, extra


def main(argv: Sequence[str] | None = None) -> None:
    args, extra = parse_args(sys.argv[2:] if argv is None else argv)
    try:
        runner = SweepRunner(load_sweep(args.sweep_file), args.out_dir, args.seed, extra)
        try:
            runner.run(args.count, args.run_cap)
        except KeyboardInterrupt:
            print(
                f"\nlit-vision sweep: interrupted; rerun the same command to resume (state in {runner.out_dir})",
                file=sys.stderr,
            )
            _print_results(runner)
            sys.exit(130)
        _print_results(runner)
    except (ValueError, FileNotFoundError) as error:
        if os.environ.get("LIT_VISION_DEBUG"):
            raise
        print(f"lit-vision: error: {error}", file=sys.stderr)
        sys.exit(2)


def _print_results(runner: SweepRunner) -> None:
    path = runner.write_results()
    print(f"\nsweep {runner.sweep.name} ({runner.sweep.method}, {runner.sweep.goal} {runner.sweep.metric}):")
    print(format_table(runner.results()))
    print(f"results: {path}")
