"""Checks before and after a local sweep: parameter names that the config does not have stop the sweep before its
first trial (instead of failing every trial), and a sweep whose every trial failed ends non-zero."""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from typing import Any

from lit_vision.sweep.spec import SweepFile, distribution, trial_args


def first_value(spec: dict[str, Any]) -> Any:
    """A value of the parameter's type and range (only the names and types are checked with it)."""
    kind = distribution(spec)
    if kind == "constant":
        return spec["value"]
    if kind == "categorical":
        return spec["values"][0]
    low = spec["min"]
    if kind in ("log_uniform", "q_log_uniform"):  # wandb's bounds are natural logs of the values
        return math.exp(low)
    return low


def check_parameter_names(sweep: SweepFile, extra_args: Sequence[str] = (), configs: Sequence[str] = ()) -> None:
    """Parse one trial's command line (`--print_config`, nothing is built): an unknown key or a value of the wrong
    type stops the sweep with the CLI's one-line error and the sweep file's name."""
    from lit_vision.cli import main

    values = {name: first_value(spec) for name, spec in sweep.parameters.items()}
    args = [*trial_args(sweep, values, list(configs)), *extra_args, "--print_config"]
    if not args or args[0] not in ("fit", "validate", "test", "predict"):
        return
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main(args)
    except SystemExit as exit_info:
        if exit_info.code in (0, None):
            return
        lines = [line for line in stderr.getvalue().splitlines() if line.startswith("lit-vision: error: ")]
        problem = lines[-1].removeprefix("lit-vision: error: ") if lines else f"exit {exit_info.code}"
        raise ValueError(
            f"{sweep.path}: a trial's command line does not parse ({problem}); fix the parameter names under "
            "`parameters:` (full CLI keys such as model.init_args.depth, see `lit-vision fit --help`)"
        ) from None


def every_trial_failed(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and all(row.get("state") == "fail" for row in rows)
