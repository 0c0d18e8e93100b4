"""The `lit-vision` entry point: one command tree, each command imported only when it runs (fast `--help`).

A command is a function `run(argv: list[str]) -> int | None` taking the arguments after its name; add a line to
COMMANDS to add one. fit/validate/test/predict go to LightningCLI (`lit_vision.cli`); the others own their parsers.
"""

import importlib
import sys
from collections.abc import Sequence

# name -> ("module:function", one-line help shown by `lit-vision --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("lit_vision.cli:run_fit", "train a model (then test the best checkpoint)"),
    "validate": ("lit_vision.cli:run_validate", "evaluate a checkpoint on the validation split"),
    "test": ("lit_vision.cli:run_test", "evaluate a checkpoint on the test split"),
    "predict": ("lit_vision.cli:run_predict", "write predictions of a checkpoint"),
    "average": ("lit_vision.average:run", "average the weights of a run's last N checkpoints into one checkpoint"),
    "sweep": ("lit_vision.sweep.command:run", "run a wandb sweep file locally (optuna, offline runs, resumable)"),
    "export": ("lit_vision.export.command:run", "export a model as ONNX, torch.export (pt2) or a timm local-dir"),
    "crosscheck": ("lit_vision.crosscheck.command:run", "compare a model with its reference twin (timm, torch.nn)"),
    "data": ("lit_vision.data.command:run", "data-set tools: `data optimize` writes LitData shards for streaming"),
}

USAGE = "usage: lit-vision [-h] [--version] {command} ..."


def help_text() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [USAGE.format(command=",".join(COMMANDS)), "", "commands:"]
    lines += [f"  {name:<{width}}  {help_line}" for name, (_, help_line) in COMMANDS.items()]
    lines += ["", "`lit-vision COMMAND --help` shows the options of COMMAND, e.g. `lit-vision fit --help`."]
    return "\n".join(lines)


def resolve(name: str):
    """The function that runs command `name`."""
    target, _ = COMMANDS[name]
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `lit-vision`: dispatch to the command named first."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(help_text())
        return
    if argv[0] == "--version":
        from lit_vision import __version__

        print(f"lit-vision {__version__}")
        return
    name = argv[0]
    if name not in COMMANDS:
        print(
            f"lit-vision: error: unknown command {name!r}; choose one of {', '.join(COMMANDS)} (see `lit-vision --help`)",
            file=sys.stderr,
        )
        sys.exit(2)
    code = resolve(name)(argv[1:])
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
