"""One trial: an in-process `lit-vision fit` that reports the sweep metric after every validation."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

Report = Callable[[float], bool]  # metric value after a validation -> True when the trial should stop (pruned)
TrialFn = Callable[[list[str], str, Report], dict[str, Any]]


def make_reporter(metric: str, report: Report):
    from lightning import Callback

    class SweepReporter(Callback):
        """Hands the sweep metric to the search after every validation (rank 0); when the search prunes the trial,
        every rank stops (the decision is broadcast, so DDP ranks end together)."""

        def on_validation_end(self, trainer, pl_module) -> None:
            if trainer.sanity_checking:
                return
            value = trainer.callback_metrics.get(metric)
            prune = trainer.is_global_zero and value is not None and report(float(value))
            if trainer.world_size > 1:
                prune = trainer.strategy.broadcast(prune, src=0)
            if prune:
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


class trial_environment:
    """Offline logging (unless WANDB_MODE is set) and the sweep as the wandb group, run name `<sweep>-<trial>` (also
    above a name the config gives its WandbLogger)."""

    def __init__(self, sweep_name: str, number: int) -> None:
        from lit_vision.loggers import SWEEP_RUN_ENV

        name = f"{sweep_name}-{number:03d}"
        self.values = {"WANDB_RUN_GROUP": sweep_name, "WANDB_NAME": name, SWEEP_RUN_ENV: name}
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
