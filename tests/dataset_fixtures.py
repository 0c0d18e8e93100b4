"""Small files in real data-set formats, for configs that train on real data (configs/<dataset>/*.yaml).

FIXTURES maps a configs/ sub-directory to a function that writes the files under a temp dir and returns the CLI
arguments that point the config's DataModule at them.
"""

from collections.abc import Callable
from pathlib import Path

FIXTURES: dict[str, Callable[[Path], list[str]]] = {}
