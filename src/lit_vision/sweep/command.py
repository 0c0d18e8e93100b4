"""`lit-vision sweep SWEEP.yaml`: run a wandb sweep file with no wandb server.

lit-vision sweep sweeps/swin.yaml --count 10                      # ten trials, then the results table
lit-vision sweep sweeps/swin.yaml                                 # until the file's run_cap (or the grid's end)
lit-vision sweep sweeps/swin.yaml --config configs/trainer/ddp.yaml   # a config stacked onto every trial
lit-vision sweep sweeps/swin.yaml --count 2 -- --trainer.max_epochs 3   # extra arguments for every trial
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from lit_vision.sweep.check import check_parameter_names, every_trial_failed
from lit_vision.sweep.results import format_table
from lit_vision.sweep.runner import SweepRunner
from lit_vision.sweep.spec import load_sweep


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        sys.stderr.write(f"lit-vision: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lit-vision sweep",
        description="Run a wandb sweep file locally (no wandb server): optuna search, offline runs, resumable. "
        "Each trial is `lit-vision fit` with the file's command, the --config files and the sampled values.",
        epilog="Arguments after `--` are added to every trial, e.g. `-- --trainer.max_epochs 3`.",
    )
    parser.add_argument("sweep_file", help="a wandb sweep file, e.g. sweeps/swin.yaml")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="a config stacked onto every trial, after the sweep command's own and before the sampled values "
        "(repeatable), e.g. configs/trainer/ddp.yaml",
    )
    parser.add_argument("--count", type=int, default=None, help="trials to run now (default: until run_cap)")
    parser.add_argument("--run_cap", type=int, default=None, help="total trials of the sweep (default: the file's)")
    parser.add_argument("--out_dir", default=None, help="study state and results (default: logs/sweeps/<name>)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the search (default: 0)")
    return parser


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("count", "run_cap"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name}={value} must be >= 1")
    for config in args.config:
        if not Path(config).is_file():
            parser.error(f"--config {config!r} does not exist; pass a YAML file such as configs/trainer/ddp.yaml")
    return args, extra


def run(argv: Sequence[str]) -> None:
    """`lit-vision sweep ARGV`: run the trials, then print and write the results table (rank 0)."""
    args, extra = parse_args(argv)
    try:
        runner = SweepRunner(load_sweep(args.sweep_file), args.out_dir, args.seed, extra, configs=args.config)
        if runner.rank == 0:
            check_parameter_names(runner.sweep, extra, args.config)  # before the first trial
        try:
            runner.run(args.count, args.run_cap)
        except KeyboardInterrupt:
            if runner.rank == 0:
                print(
                    f"\nlit-vision sweep: interrupted; rerun the same command to resume (state in {runner.out_dir})",
                    file=sys.stderr,
                )
                print_results(runner)
            sys.exit(130)
        if runner.rank == 0:
            print_results(runner)
            if every_trial_failed(runner.results()):
                print(
                    f"lit-vision: error: every trial of {runner.sweep.path} failed (reasons above and in the table); "
                    "fix the sweep file or the config and rerun",
                    file=sys.stderr,
                )
                sys.exit(1)
    except (ValueError, FileNotFoundError) as error:
        if os.environ.get("LIT_VISION_DEBUG"):
            raise
        print(f"lit-vision: error: {error}", file=sys.stderr)
        sys.exit(2)


def print_results(runner: SweepRunner) -> None:
    path = runner.write_results()
    print(f"\nsweep {runner.sweep.name} ({runner.sweep.method}, {runner.sweep.goal} {runner.sweep.metric}):")
    print(format_table(runner.results()))
    print(f"results: {path}")
