"""The results of a sweep: one row per trial, best first, as a console table and a CSV file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from lit_vision.sweep.search import trial_values
from lit_vision.sweep.spec import SweepFile

STATE_ORDER = {"complete": 0, "pruned": 1, "running": 2, "fail": 3}


def result_rows(sweep: SweepFile, trials: list[Any]) -> list[dict[str, Any]]:
    """One row per optuna trial: number, state, metric (the last reported one when not complete), the sampled
    values under short names, duration and where the run was logged (or why it failed); best first."""
    from optuna.trial import TrialState

    names = short_names(list(sweep.parameters))
    rows = []
    for trial in trials:
        values = trial_values(sweep, trial.params)
        value = trial.value if trial.state == TrialState.COMPLETE else _last(trial.intermediate_values)
        row = {"trial": trial.number, "state": trial.state.name.lower(), sweep.metric: value}
        row.update({names[name]: values.get(name) for name in sweep.parameters if name not in sweep.constants})
        row["duration_s"] = trial.user_attrs.get("duration_s")
        row["run"] = trial.user_attrs.get("run_id") or trial.user_attrs.get("run_dir") or trial.user_attrs.get("error")
        rows.append(row)
    sign = -1 if sweep.goal == "maximize" else 1
    rows.sort(
        key=lambda r: (STATE_ORDER.get(r["state"], 4), sign * r[sweep.metric] if r[sweep.metric] is not None else 0)
    )
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path, metric: str) -> Path:
    columns = list(rows[0]) if rows else ["trial", "state", metric]
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
