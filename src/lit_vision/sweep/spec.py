"""The sweep file: wandb's schema, checked for what the local runner supports, and the trial command it expands to."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METHODS = ("random", "grid", "bayes")
GOALS = ("maximize", "minimize")
ARGS_MACROS = ("${args}", "${args_no_equals}", "${args_no_boolean_flags}")
DROPPED_MACROS = ("${env}", "${interpreter}")
PROGRAMS = ("lit-vision", "lit_vision.cli", "lit_vision.commands")
DISTRIBUTIONS = ("int_uniform", "uniform", "q_uniform", "log_uniform", "log_uniform_values")
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


@dataclass
class SweepFile:
    """A checked sweep file; `raw` is the mapping as read (stored beside the study to detect later edits)."""

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
        return {name: spec["value"] for name, spec in self.parameters.items() if distribution(spec) == "constant"}


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


def distribution(spec: dict[str, Any]) -> str:
    """wandb's distribution of a parameter, inferred as wandb does when the file names none."""
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
    kind = distribution(spec)
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
    elif kind != "constant":
        if "min" not in spec or "max" not in spec or not spec["min"] < spec["max"]:
            raise ValueError(f"{where} needs min < max (got min={spec.get('min')!r}, max={spec.get('max')!r})")
        if kind == "log_uniform_values" and spec["min"] <= 0:
            raise ValueError(f"{where}: log_uniform_values needs min > 0 (got {spec['min']})")
        if kind not in DISTRIBUTIONS:
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


def trial_args(sweep: SweepFile, values: dict[str, Any], configs: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`lit-vision` arguments (after the program name) of one trial: the command with its macros expanded.

    `configs` (the sweep's `--config` files) are stacked after the command's own arguments, before the sampled values.
    """
    args: list[str] = []
    stacked = False
    for part in sweep.command[_program_index(sweep.path, sweep.command) + 1 :]:
        if part in ARGS_MACROS:
            if not stacked:
                args += [piece for config in configs for piece in ("--config", str(config))]
                stacked = True
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
