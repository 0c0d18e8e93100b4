"""Fault tolerance: a run killed with SIGKILL or stopped with Ctrl-C mid-epoch and restarted with `--ckpt_path last` ends bitwise equal to an
uninterrupted run (weights, optimizer state, metrics.csv); checkpoint writes are atomic."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from lightning import Callback

from helpers import CONFIGS, run_lit_vision
from lit_vision.callbacks.checkpoint import AtomicCheckpointIO, atomic_save

TESTS = Path(__file__).resolve().parent

# The digits ConvMixer config, small and short: 2 epochs of 10 batches, `last.ckpt` every 4 steps, dropout on (so the
# global RNG matters), augmentation on (per-batch seeds), CSV metrics flushed often (so the killed run wrote some).
INFRA = """
trainer:
  logger:
    class_path: lightning.pytorch.loggers.CSVLogger
    init_args: {save_dir: logs, name: run, flush_logs_every_n_steps: 3}
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {monitor: val/acc, mode: max, save_last: true}
    - class_path: lit_vision.callbacks.checkpoint.LastCheckpoint
      init_args: {every_n_train_steps: 4}
"""
ARGS = [
    "--trainer.max_epochs", "2",
    "--trainer.limit_train_batches", "10",
    "--trainer.limit_val_batches", "3",
    "--trainer.log_every_n_steps", "2",
    "--trainer.deterministic", "true",
    "--trainer.enable_progress_bar", "false",
    "--test_after_fit", "false",
    "--model.init_args.dim", "32",
    "--model.init_args.depth", "2",
    "--model.init_args.drop_rate", "0.2",
]  # fmt: skip
KILL_AT_STEP = 14  # epoch 1, after `last.ckpt` of step 12: steps 13 and 14 are lost and redone


class KillAtStep(Callback):
    """SIGKILL this process at the end of the training step that reaches `step` (no cleanup, like the OOM killer)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def fit_args(tmp_path: Path, *extra_configs: str) -> list[str]:
    infra = tmp_path / "infra.yaml"
    infra.write_text(INFRA)
    configs = ["--config", str(CONFIGS / "convmixer.yaml"), "--config", str(infra)]
    for text in extra_configs:
        extra = tmp_path / f"extra{len(configs)}.yaml"
        extra.write_text(text)
        configs += ["--config", str(extra)]
    return ["fit", *configs, *ARGS]


def run_dir(root: Path) -> Path:
    return root / "logs/run/version_0"


def weights_and_optimizer(path: Path) -> tuple[dict, dict, int]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint["state_dict"], checkpoint["optimizer_states"][0]["state"], checkpoint["global_step"]


class InterruptAtStep(Callback):
    """SIGINT (Ctrl-C) to this process in the middle of the training step that reaches `step`: between backward and
    the optimizer update, where an immediate stop would leave an inconsistent state."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step + 1 == self.step:
            os.kill(os.getpid(), signal.SIGINT)


ENV = {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference run, started once in the background; `uninterrupted()` waits for it and returns its directory."""
    root = tmp_path_factory.mktemp("full")
    results = {}
    thread = threading.Thread(  # in parallel with an interrupted run: a test takes two runs' time, not three
        target=lambda: results.update(full=run_lit_vision(*fit_args(root), cwd=root, env=ENV, timeout=300))
    )
    thread.start()

    def wait() -> Path:
        thread.join()
        assert results["full"].returncode == 0, results["full"].stderr[-3000:]
        return root

    yield wait
    thread.join()


def callback_config(name: str, step: int) -> str:
    return f"trainer:\n  callbacks+:\n    - class_path: test_resume.{name}\n      init_args: {{step: {step}}}\n"


def assert_resumed_run_equals_uninterrupted(interrupted: Path, full: Path) -> None:
    resumed = run_lit_vision(*fit_args(interrupted), "--ckpt_path", "last", cwd=interrupted, env=ENV, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Restored all states from the checkpoint" in resumed.stdout + resumed.stderr
    assert "will be deleted" not in resumed.stdout + resumed.stderr  # the CSV logger keeps the rows (no false alarm)
    assert not (interrupted / "logs/run/version_1").exists()  # continued in its own directory

    weights_a, optimizer_a, step_a = weights_and_optimizer(run_dir(full) / "checkpoints/last.ckpt")
    weights_b, optimizer_b, step_b = weights_and_optimizer(run_dir(interrupted) / "checkpoints/last.ckpt")
    assert step_a == step_b == 20
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[name], weights_b[name]) for name in weights_a)
    assert all(torch.equal(optimizer_a[i]["exp_avg_sq"], optimizer_b[i]["exp_avg_sq"]) for i in optimizer_a)
    # every logged number, validation rows and the interrupted epoch's train/acc and train/loss_epoch included
    metrics_a = (run_dir(full) / "metrics.csv").read_text()
    assert "val/acc" in metrics_a and "train/loss_epoch" in metrics_a
    assert (run_dir(interrupted) / "metrics.csv").read_text() == metrics_a


def test_sigkill_mid_epoch_then_ckpt_path_last_ends_bitwise_equal(tmp_path, uninterrupted):
    killed = run_lit_vision(
        *fit_args(tmp_path, callback_config("KillAtStep", KILL_AT_STEP)), cwd=tmp_path, env=ENV, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    _, _, saved_step = weights_and_optimizer(run_dir(tmp_path) / "checkpoints/last.ckpt")
    assert saved_step == 12  # mid-epoch: epoch 1 has steps 10..19
    assert_resumed_run_equals_uninterrupted(tmp_path, uninterrupted())


def test_ctrl_c_mid_step_then_ckpt_path_last_ends_bitwise_equal(tmp_path, uninterrupted):
    stopped = run_lit_vision(
        *fit_args(tmp_path, callback_config("InterruptAtStep", KILL_AT_STEP)), cwd=tmp_path, env=ENV, timeout=300
    )
    assert stopped.returncode != 0, stopped.stderr[-3000:]
    assert "Ctrl-C: finishing the current step" in stopped.stderr
    _, _, saved_step = weights_and_optimizer(run_dir(tmp_path) / "checkpoints/last.ckpt")
    assert saved_step == KILL_AT_STEP  # the step in flight finished and was saved (not the step-12 checkpoint)
    assert_resumed_run_equals_uninterrupted(tmp_path, uninterrupted())


def test_atomic_save_keeps_the_old_file_when_the_writer_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    atomic_save({"step": 1}, path)

    def failing_save(obj, file, **kwargs):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        AtomicCheckpointIO().save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary file left


def test_sigkill_while_saving_never_corrupts_last_ckpt(tmp_path):
    path = tmp_path / "last.ckpt"
    atomic_save({"step": 1, "weights": torch.ones(3)}, path)
    script = f"""
import os, signal, torch
from lit_vision.callbacks.checkpoint import atomic_save
real_save = torch.save
def dying_save(obj, file, **kwargs):
    file.write(b"PK partial zip")
    file.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying_save
atomic_save({{"step": 2}}, {str(path)!r})
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL
    assert torch.load(path, weights_only=True)["step"] == 1
    leftovers = [p for p in tmp_path.iterdir() if p.name != "last.ckpt"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".last.ckpt.")  # the killed writer's temp file
    atomic_save({"step": 3}, path)  # the next save cleans it up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert torch.load(path, weights_only=True) == {"step": 3}
