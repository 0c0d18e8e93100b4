"""Start-up time of the `lit-vision` command: `--help`, `fit --help` and the time from launch to the first training
step of the digits ConvMixer (median of `--repeats` runs, each a fresh process, as a user pays it).

    .venv/bin/python benchmarks/startup.py                      # this tree
    .venv/bin/python benchmarks/startup.py --src /tmp/old/src   # another tree's sources, e.g. `git archive REV src`

Goal (issue 18): `lit-vision --help` <= 3 s on an idle 2-core machine. Results go in BENCHMARKS.md.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lightning import Callback  # the measured child imports it anyway (the CLI does)

ROOT = Path(__file__).resolve().parents[1]
MARK = "lit-vision-first-step "


class FirstStepClock(Callback):
    """`--trainer.callbacks+=startup.FirstStepClock`: prints the wall clock at the first training step."""

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == 0:
            print(f"{MARK}{time.time():.6f}", flush=True)


def command(src: str | None, *args: str) -> list[str]:
    code = (  # trees before the entry module (lit_vision.commands) started in lit_vision.cli
        "import sys\ntry:\n    from lit_vision.commands import main\nexcept ImportError:\n"
        "    from lit_vision.cli import main\nsys.argv[0] = 'lit-vision'\nmain()"
    )
    return [sys.executable, "-c", code, *args] if src else [str(Path(sys.executable).with_name("lit-vision")), *args]


def environment(src: str | None) -> dict[str, str]:
    paths = [str(Path(__file__).resolve().parent)] + ([src] if src else [])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]),
        "WANDB_MODE": "offline",
        "PYTHONUNBUFFERED": "1",
    }


def wall_time(args: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.time()
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return time.time() - start


def first_step_time(src: str | None, env: dict[str, str], cwd: str) -> float:
    args = command(
        src, "fit", "--config", str(ROOT / "configs/convmixer.yaml"), "--config", str(ROOT / "configs/logger/csv.yaml"),
        "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0",
        "--test_after_fit", "false", "--trainer.callbacks+=startup.FirstStepClock",
    )  # fmt: skip
    start = time.time()
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    marks = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
    if not marks:
        raise SystemExit(f"no first step:\n{result.stdout[-1500:]}\n{result.stderr[-2000:]}")
    return float(marks[0].removeprefix(MARK)) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", help="a tree's src/ directory to measure instead of the installed package")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = environment(args.src)
    rows = []
    with tempfile.TemporaryDirectory() as cwd:
        measures = {
            "lit-vision --help": lambda: wall_time(command(args.src, "--help"), env, cwd),
            "lit-vision fit --help": lambda: wall_time(command(args.src, "fit", "--help"), env, cwd),
            "launch -> first training step (digits ConvMixer)": lambda: first_step_time(args.src, env, cwd),
        }
        for name, measure in measures.items():
            times = [measure() for _ in range(args.repeats)]
            rows.append((name, statistics.median(times), min(times)))
    print(f"| command ({args.src or 'installed'}) | median s | min s |\n|---|---|---|")
    for name, median, best in rows:
        print(f"| {name} | {median:.2f} | {best:.2f} |")


if __name__ == "__main__":
    main()
