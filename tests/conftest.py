"""Shared fixtures: wandb offline into tmp dirs, running the real `lit-vision` command, in-process CLI runs.
Helpers that tests import (paths, `run_lit_vision`, the offline-run reader) live in tests/helpers/."""

import subprocess
from pathlib import Path

import pytest

from helpers import CONFIGS, run_lit_vision


@pytest.fixture(autouse=True)
def offline_wandb(tmp_path_factory, monkeypatch):
    """No test reaches the network or writes wandb files outside a temp dir."""
    wandb_root = tmp_path_factory.mktemp("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(wandb_root))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    yield
    from lit_vision.loggers import finish_wandb

    finish_wandb()  # a run a test left open (e.g. resumed by a further trainer.test) must not leak into the next test


@pytest.fixture
def lit_vision(tmp_path):
    """`lit_vision("fit", "--config", ...)` runs the real command inside a fresh temp dir."""

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return run_lit_vision(*args, cwd=tmp_path, **kwargs)

    return run


@pytest.fixture
def fit_config(tmp_path, monkeypatch):
    """Train a config in-process through LitVisionCLI; returns the CLI (trainer.callback_metrics holds test metrics)."""
    from lit_vision.cli import LitVisionCLI

    monkeypatch.chdir(tmp_path)

    def run(config: str | Path, *overrides: str):
        args = ["fit", "--config", str(CONFIGS / config if not Path(config).is_absolute() else config), *overrides]
        return LitVisionCLI(args=args)

    return run
