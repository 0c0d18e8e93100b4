"""One-line command-line errors: jsonargparse's nested Union reports condensed to the key, the problem and the fix."""

import re
import sys
from typing import NoReturn

from jsonargparse import ArgumentParser
from lightning.pytorch.cli import LightningArgumentParser

from lit_vision._compat import jsonargparse_debug_mode

_NOISE = (
    "Does not validate against any of the Union subtypes",
    "Subtypes:",
    "Errors:",
    "Given value",
    "- Expected a <class 'NoneType'>",
    "Problem with given class_path",
    "Parser key",
)


def condense(message: str) -> str:
    """`model.init_args.depth: Expected a <class 'int'>. Got value: abc` from jsonargparse's multi-line report."""
    keys = re.findall(r'Parser key "([^"]+)"', message)
    class_path = re.search(r"class_path '([^']+)'", message)
    details = [line.strip().lstrip("- ").strip() for line in message.splitlines() if line.strip()]
    details = [line for line in details if not line.startswith(_NOISE) and "NoneType" not in line]
    problem = details[0] if details else message.strip().splitlines()[0]
    problem = re.sub(r'^Parser key "[^"]+":\s*', "", problem)
    key = ".".join([keys[0], "init_args", *keys[1:]]) if class_path and keys else ".".join(keys)
    where = f" (in {class_path.group(1)})" if class_path else ""
    return f"{key}: {problem}{where}" if key else f"{problem}{where}"


# a top-level --optimizer / --lr_scheduler (LightningCLI's auto_configure_optimizers, turned off in LitVisionCLI)
_TOP_LEVEL_OPTIMIZER = re.compile(r"(unrecognized arguments: |option '|key ')(--)?(optimizer|lr_scheduler)\b", re.I)


def optimizer_hint(message: str) -> str | None:
    """The fix for a top-level `--optimizer` / `--lr_scheduler` (or `optimizer:` in a config), else None."""
    found = _TOP_LEVEL_OPTIMIZER.search(message)
    if found is None:
        return None
    return (
        f"--{found.group(3)} is not an option: the model sets its optimizer and schedule; use "
        "--model.init_args.optimizer (e.g. --model.init_args.optimizer.init_args.lr 1e-3) and the model's "
        "lr_schedule / warmup_epochs / min_lr_ratio"
    )


class LitVisionParser(LightningArgumentParser):
    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:
            return super().error(message, ex)
        if jsonargparse_debug_mode():
            return super().error(message, ex)
        parser: ArgumentParser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        line = optimizer_hint(message) or f"{condense(message)} (see `{prog} --help`)"
        sys.stderr.write(f"lit-vision: error: {line}\n")
        sys.exit(2)
