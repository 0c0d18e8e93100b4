"""`--help` documents every constructor argument of every class a config can name.

jsonargparse builds `--model.help X` / `--data.help X` / `--trainer.callbacks.help X` from the `Args:` section of the
class (and, for arguments reached through `**kwargs`, of its parents). These tests ask jsonargparse itself which
arguments a class has and what help each one shows, so a new argument without an `Args:` line fails here.
"""

import importlib
import inspect
import re
from pathlib import Path

import pytest
import yaml
from jsonargparse import ArgumentParser
from torch import nn

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# classes a config could name that cannot be documented here, with the reason
NOT_CHECKED = {
    "lit_vision.callbacks.RunConfigCallback": "built by the CLI from its own parser, never named in a config",
    "lightning.pytorch.strategies.DDPStrategy": "Lightning's docstring documents none of its arguments",
}


COMMENTED_CLASS_PATH = re.compile(r"^\s*#\s*(?:-\s*)?class_path:\s*([\w.]+)", re.M)


def config_class_paths() -> set[str]:
    """Every `class_path` in every YAML under configs/, nested (callbacks, loggers, optimizers) or commented out."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "class_path" and isinstance(value, str):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(CONFIGS.rglob("*.yaml")):
        text = path.read_text()
        walk(yaml.safe_load(text))
        found.update(COMMENTED_CLASS_PATH.findall(text))  # "uncomment below" callbacks count too
    return found


def exported_class_paths() -> set[str]:
    """Public classes of lit_vision.models / data / callbacks, and the networks and layers of lit_vision.nn."""
    paths = set()
    for package in ("lit_vision.models", "lit_vision.data", "lit_vision.callbacks"):
        paths |= {f"{package}.{name}" for name in importlib.import_module(package).__all__}
    for package in ("lit_vision.nn", "lit_vision.nn.complex"):
        module = importlib.import_module(package)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, nn.Module):
                paths.add(f"{package}.{name}")
    return paths


def load(class_path: str) -> type:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def undocumented_arguments(cls: type) -> list[str]:
    """Constructor arguments (as jsonargparse resolves them, `**kwargs` included) whose help text is empty."""
    parser = ArgumentParser(exit_on_error=False)
    added = parser.add_class_arguments(cls, "arg", fail_untyped=False, sub_configs=True)
    # argparse (stdlib) keeps its actions in `_actions`; jsonargparse has no public accessor for an action's help
    return [
        action.dest.removeprefix("arg.")
        for action in parser._actions
        if action.dest in added and not (action.help or "").strip()
    ]


ALL_CLASS_PATHS = sorted((config_class_paths() | exported_class_paths()) - set(NOT_CHECKED))


def test_collects_configured_classes():
    assert {
        "lit_vision.models.SwinClassifier",
        "lit_vision.data.DigitsDataModule",
        "lit_vision.callbacks.ema.EMA",
        "lightning.pytorch.loggers.WandbLogger",
        "lit_vision.nn.SwinTransformer",
        "lit_vision.nn.complex.ComplexResNet",
    } <= set(ALL_CLASS_PATHS) | set(NOT_CHECKED)


def test_every_constructor_argument_has_help():
    classes = {load(class_path): None for class_path in ALL_CLASS_PATHS}  # one entry per class, however it is named
    missing = [f"{cls.__name__}.{name}" for cls in classes for name in undocumented_arguments(cls)]
    assert not missing, "constructor arguments without an `Args:` line in their class docstring: " + ", ".join(missing)


def cli_help(capsys, *args: str) -> str:
    from lit_vision.commands import main

    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args])
    assert exit_info.value.code in (0, None)
    return capsys.readouterr().out


def argument_help(text: str, option: str) -> str:
    """The help text argparse prints for `option` (before jsonargparse's `(type: ..., default: ...)`)."""
    match = re.search(rf"^\s+{re.escape(option)}\b[^\n]*?(?:\n|\s{{2,}})(.*?)\(type:", text, re.M | re.S)
    assert match, f"{option} is not listed in:\n{text}"
    return " ".join(match.group(1).split())


@pytest.mark.parametrize(
    ("flag", "class_path", "options"),
    [
        ("--model.help", "lit_vision.models.SwinClassifier", ["depths", "window_size", "mixup_alpha"]),
        ("--model.help", "lit_vision.models.ViTClassifier", ["depth", "patch_size", "label_smoothing"]),
        ("--data.help", "lit_vision.data.DigitsDataModule", ["batch_size", "image_size"]),
        ("--trainer.callbacks.help", "lit_vision.callbacks.ema.EMA", ["decay"]),
        ("--model.help", "SwinClassifier", ["depths", "window_size"]),  # short names, as users type them
        ("--data.help", "DigitsDataModule", ["batch_size"]),
        ("--trainer.callbacks.help", "EMA", ["decay"]),
    ],
)
def test_cli_help_shows_one_line_per_argument(capsys, flag, class_path, options):
    text = cli_help(capsys, flag, class_path)
    prefix = flag.removesuffix("help")
    for option in options:
        assert argument_help(text, prefix + option), f"{prefix}{option} has no help text in:\n{text}"
