"""Short class names on the command line: `--model SwinClassifier`, `--model.help SwinClassifier`,
`--data ImageFolderDataModule`, `--trainer.callbacks+=ProgressLog`.

lit-vision's packages import their classes lazily (fast start-up), so jsonargparse, which resolves a short name only
among subclasses already imported, would not find them. `expand_short_names` rewrites such arguments to the full
import path before parsing, from the packages' export tables (nothing is imported); an unknown name that is not an
import path stops with one line listing the known ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

# option (without a trailing `.help`, `+`) -> the packages whose exported classes it takes
_OPTIONS = {
    "--model": ("lit_vision.models",),
    "--data": ("lit_vision.data",),
    "--trainer.callbacks": ("lit_vision.callbacks",),
}


def exported_classes(package: str) -> dict[str, str]:
    """`{"SwinClassifier": "lit_vision.models.SwinClassifier", ...}` from a package's lazy export table."""
    import importlib

    exports = getattr(importlib.import_module(package), "_EXPORTS", {})
    return {name: f"{package}.{name}" for name in exports if name[:1].isupper()}


def _split(argument: str) -> tuple[str, str | None]:
    option, sep, value = argument.partition("=")
    return option, (value if sep else None)


def _option_key(option: str) -> str | None:
    base = option.removesuffix("+").removesuffix(".help").removesuffix(".class_path")
    return base if base in _OPTIONS else None


def _expand(key: str, option: str, value: str) -> str:
    if "." in value or value.startswith(("{", "[", "-")) or not value[:1].isalpha():
        return value  # an import path, JSON/YAML or another option
    known: dict[str, str] = {}
    for package in _OPTIONS[key]:
        known.update(exported_classes(package))
    if value in known:
        return known[value]
    if key == "--trainer.callbacks":
        return value  # Lightning's own callbacks (ModelCheckpoint, ...) resolve by their short names
    close = difflib.get_close_matches(value, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    raise ValueError(
        f"{option} {value}: no such class; {hint}known: {', '.join(sorted(known))} (or a full import path such as "
        f"{next(iter(known.values()), 'package.Class')})"
    )


def expand_short_names(argv: Sequence[str]) -> list[str]:
    """`argv` with the short class names of `--model`, `--data` (and their `.help`) and `--trainer.callbacks`
    replaced by full import paths."""
    result = list(argv)
    for index, argument in enumerate(result):
        option, value = _split(argument)
        key = _option_key(option)
        if key is None:
            continue
        if value is not None:
            result[index] = f"{option}={_expand(key, option, value)}"
        elif index + 1 < len(result):
            result[index + 1] = _expand(key, option, result[index + 1])
    return result
