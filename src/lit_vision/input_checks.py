"""Checks of what the user typed, before jsonargparse or Lightning see it, each ending in one line that names the file
or argument, the bad value and the fix (raised as ValueError / FileNotFoundError; `lit-vision` prints
`lit-vision: error: ...`):

- `--config FILE`: YAML syntax (file, line and column), `class_path` of lit-vision classes (did you mean ...);
- `--trainer.precision` (command line or config) against the values Lightning accepts;
- log directories that cannot be written (read-only, under a file);
- `--ckpt_path` files that hold only weights, which Lightning cannot restore.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PRECISIONS = (
    "32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16", "16-true", "bf16-true", "64-true", "64",
    "transformer-engine", "transformer-engine-float16",
)  # fmt: skip
_PACKAGES = ("lit_vision.models", "lit_vision.data", "lit_vision.callbacks")


def config_paths(argv: Sequence[str]) -> list[str]:
    paths = []
    for index, argument in enumerate(argv):
        if argument == "--config" and index + 1 < len(argv):
            paths.append(argv[index + 1])
        elif argument.startswith("--config="):
            paths.append(argument.split("=", 1)[1])
    return paths


def check_config_file(path: str) -> Any:
    """The parsed YAML of `--config path`; a syntax error names the file, line and column."""
    import yaml

    if not os.path.isfile(path):
        return None  # jsonargparse reports a missing file itself
    try:
        with open(path, encoding="utf-8") as file:
            return yaml.safe_load(file)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(
            f"--config {where}: invalid YAML ({problem}); fix that line (indentation: spaces only, `key: value`, "
            "lists as `- item` or `[a, b]`)"
        ) from None


def _class_paths(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        found = [node["class_path"]] if isinstance(node.get("class_path"), str) else []
        return found + [path for value in node.values() for path in _class_paths(value)]
    if isinstance(node, list):
        return [path for value in node for path in _class_paths(value)]
    return []


def check_class_path(class_path: str, where: str) -> None:
    """`lit_vision.models.X` / `lit_vision.data.X` / `lit_vision.callbacks.X` must be an exported class."""
    from lit_vision.short_names import exported_classes

    package, _, name = class_path.rpartition(".")
    if package not in _PACKAGES:
        return
    known = exported_classes(package)
    if name in known:
        return
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {package}.{close[0]}? " if close else ""
    raise ValueError(f"{where}: class_path {class_path} does not exist; {hint}{package} has {', '.join(sorted(known))}")


def check_precision(value: Any, where: str) -> None:
    if value is None or str(value) in PRECISIONS:
        return
    raise ValueError(
        f"{where} {value}: not a precision Lightning knows; use 32-true (default), bf16-mixed or 16-mixed (GPUs), "
        "64-true, or bf16-true / 16-true (weights in half precision)"
    )


def check_command_line(argv: Sequence[str]) -> None:
    """The checks that need only the arguments and the config files they name."""
    for path in config_paths(argv):
        config = check_config_file(path)
        for class_path in _class_paths(config):
            check_class_path(class_path, f"--config {path}")
        trainer = config.get("trainer") if isinstance(config, Mapping) else None
        if isinstance(trainer, Mapping):
            check_precision(trainer.get("precision"), f"--config {path}: trainer.precision")
    for index, argument in enumerate(argv):
        option, sep, value = argument.partition("=")
        if option == "--trainer.precision":
            check_precision(value if sep else (argv[index + 1] if index + 1 < len(argv) else None), option)
        elif option in ("--model.class_path", "--data.class_path") and index + 1 < len(argv) and not sep:
            check_class_path(argv[index + 1], option)


def check_writable(directory: str | os.PathLike, option: str) -> None:
    """`directory` can be created and written (a log or checkpoint directory)."""
    path = Path(directory).expanduser().absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # nothing is created here: a run that logs nothing leaves no directory
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, f"{existing} is a file")
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".lit-vision-write-test-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(
            f"{option} {directory}: cannot write there ({reason}); pass a writable directory, e.g. {option} "
            "~/lit-vision-logs, or fix its permissions"
        ) from None


def check_log_directories(config: Any) -> None:
    """Every configured logger's `save_dir` (and the trainer's `default_root_dir`) can be written."""
    from lit_vision.runs import logger_entries

    trainer = config.get("trainer") if config is not None else None
    for entry in logger_entries(config):
        init_args = entry.get("init_args") or {}
        save_dir = init_args.get("save_dir") or init_args.get("dir")
        if save_dir and "://" not in str(save_dir):
            check_writable(save_dir, "--trainer.logger.init_args.save_dir")
    root = trainer.get("default_root_dir") if trainer is not None else None
    if root and "://" not in str(root):
        check_writable(root, "--trainer.default_root_dir")


def check_restorable(path: str | os.PathLike, command: str) -> None:
    """A `--ckpt_path` Lightning can restore: written by `Trainer.save_checkpoint`, with optimizer and loop state
    when `fit` resumes from it (a bare `{"state_dict": ...}` of weights is not)."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    if not isinstance(checkpoint, Mapping):
        return
    missing = [key for key in ("pytorch-lightning_version", "global_step") if key not in checkpoint]
    if command == "fit":
        missing += [key for key in ("optimizer_states", "loops") if key not in checkpoint]
    if not missing:
        return
    use = (
        "`lit-vision fit --ckpt_path` resumes a run and needs a checkpoint written by `lit-vision fit`"
        if command == "fit"
        else f"`lit-vision {command}` needs a checkpoint written by `lit-vision fit`"
    )
    raise ValueError(
        f"--ckpt_path {path} holds weights only (no {', '.join(missing)}); {use} (logs/<name>/<version>/checkpoints/"
        "*.ckpt); to start from bare weights, load them into the model's network (e.g. TimmClassifier "
        "--model.init_args.pretrained_file)"
    )


def load_error_line(error: BaseException, source: str, target: str) -> str | None:
    """One line for torch's multi-line `Error(s) in loading state_dict` (None for other errors): how many keys are
    missing, unexpected or of another shape, with a first example of each, and the fix."""
    import re

    text = str(error)
    if "Error(s) in loading state_dict" not in text:
        return None
    problems = []
    for label, pattern in (("missing", r"Missing key\(s\) in state_dict: (.*?)\.\s*(?:\n|Unexpected|size|$)"),
                           ("unexpected", r"Unexpected key\(s\) in state_dict: (.*?)\.\s*(?:\n|size|$)")):  # fmt: skip
        found = re.search(pattern, text, re.S)
        if found:
            keys = re.findall(r'"([^"]+)"', found.group(1))
            problems.append(f"{len(keys)} {label} (e.g. {keys[0]})" if keys else label)
    shapes = re.findall(r"size mismatch for ([^:]+): copying a param with shape (\S+) from checkpoint", text)
    if shapes:
        problems.append(f"{len(shapes)} of other shapes (e.g. {shapes[0][0]}: {shapes[0][1].rstrip(',')} in the file)")
    return (
        f"{source}: the weights do not fit {target} ({'; '.join(problems) or 'state_dict mismatch'}); the file holds "
        "another architecture or size: give weights of this model, or the model_name they were saved from"
    )
