"""What tests share besides fixtures (those stay in tests/conftest.py): repository paths and running the real command.

from helpers import CONFIGS, ROOT, run_lit_vision
from helpers.wandb_runs import offline_runs, read_offline_run
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
LIT_VISION = str(Path(sys.executable).with_name("lit-vision"))


def run_lit_vision(*args: str, cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed `lit-vision` command as a user would."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([LIT_VISION, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)
