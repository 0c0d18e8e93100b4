"""Checkpoints a killed run resumes from: atomic writes, a frequent `last.ckpt`, random-number state, `--ckpt_path last`.

- `AtomicCheckpointIO` writes every checkpoint to a temporary file beside its target, fsyncs it and renames it over the
  target, so a kill during saving leaves the previous file intact. `LitVisionCLI` makes it the default.
- `LastCheckpoint` writes `last.ckpt` every `every_n_train_steps` optimizer steps (mid-epoch), on exceptions and when
  training ends; `configs/trainer/fault_tolerant.yaml` adds it. Together with the resumable training loader
  (`lit_vision.data.sampling`) and `ExactResume`, a run resumed from it ends bitwise equal to an uninterrupted one.
- `ExactResume` keeps what Lightning's checkpoints leave out: the global random-number states (dropout, drop-path)
  and the training epoch's running metric sums. `LitVisionCLI` adds it to every trainer.
- `continue_last_version` makes `--ckpt_path last` find `last.ckpt` of the previous run of the same experiment
  (`logs/<name>/version_<n>/`) and continue logging into that directory, keeping the `metrics.csv` rows written up
  to the checkpoint (Lightning's CSV logger would delete the file).
"""

import csv
import os
import random
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_only
from torchmetrics import Metric

from lit_vision._compat import (
    epoch_log_results,
    is_local_path,
    last_saved_step,
    logger_version,
    replace_default_checkpoint_io,
    save_last_checkpoint,
    saves_on_exception,
    set_logger_version,
    set_metric_update_count,
    step_metrics_logged_after_batch_end,
)
from lit_vision.callbacks.interrupt import GracefulInterrupt, interrupt_requested

LAST_NAME = re.compile(rf"^{ModelCheckpoint.CHECKPOINT_NAME_LAST}(-v?\d+)?$")  # last.ckpt, last-v1.ckpt


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save` that either fully replaces `path` or leaves it untouched (temp file + fsync + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a process killed while saving
        stale.unlink(missing_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "xb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with atomic local writes; remote paths (s3://, gs://, ...) go through fsspec."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not is_local_path(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_save(checkpoint, path)


def use_atomic_checkpoints(trainer: Trainer) -> None:
    """Make the trainer write checkpoints atomically unless a custom (non-default) CheckpointIO was configured."""
    strategy = trainer.strategy
    replace_default_checkpoint_io(strategy, AtomicCheckpointIO())


class LastCheckpoint(ModelCheckpoint):
    """`last.ckpt` to resume from: every `every_n_train_steps` optimizer steps (mid-epoch), on exceptions (NaN loss,
    out of memory, Ctrl-C) and when training ends. It owns `last.ckpt`: other ModelCheckpoints stop writing theirs.

    Resuming from a step checkpoint is exact (same weights and metrics as without the interruption); one written on
    an exception holds the weights before the failing step."""

    def __init__(self, every_n_train_steps: int = 100, save_on_exception: bool = True, dirpath: str | None = None):
        if every_n_train_steps < 1:
            raise ValueError(f"every_n_train_steps={every_n_train_steps} must be >= 1")
        super().__init__(
            dirpath=dirpath,
            save_top_k=0,
            save_last=True,
            every_n_train_steps=every_n_train_steps,
            save_on_exception=save_on_exception,
            enable_version_counter=False,
        )
        self._csv_rows: int | None = None
        self._at_batch_end = False

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        self._at_batch_end = True
        try:
            super().on_train_batch_end(trainer, *args)
            if interrupt_requested(trainer) and last_saved_step(self) != trainer.global_step:
                save_last_checkpoint(self, trainer)  # Ctrl-C: save this boundary
        finally:
            self._at_batch_end = False

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        # the metrics.csv rows of the steps this checkpoint holds, so that a resume keeps exactly those
        self._csv_rows = flush_csv_logger(trainer)
        if self._csv_rows is not None and self._at_batch_end and step_metrics_logged_after_batch_end(trainer):
            self._csv_rows += 1  # Lightning logs this step's row right after on_train_batch_end
        if self.state_key in checkpoint.get("callbacks", {}):  # the state_dict was taken before this hook
            checkpoint["callbacks"][self.state_key]["csv_rows"] = self._csv_rows

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "csv_rows": self._csv_rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._csv_rows = state_dict.get("csv_rows")

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        for callback in trainer.checkpoint_callbacks:
            if (
                callback is not self
                and isinstance(callback, ModelCheckpoint)
                and not isinstance(callback, LastCheckpoint)
            ):
                callback.save_last = False

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt) and last_saved_step(self) == trainer.global_step:
            return  # GracefulInterrupt stopped right after the step boundary this checkpoint was saved at
        if saves_on_exception(self, trainer):
            save_last_checkpoint(self, trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.fast_dev_run and last_saved_step(self) != trainer.global_step:
            save_last_checkpoint(self, trainer)


def _random_states() -> dict[str, Any]:
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    numpy_state = (name, keys.tolist(), position, has_gauss, cached_gaussian)  # plain types: weights_only loads
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_random_states(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached_gaussian))
    random.setstate(state["python"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device=device)


def _metric_states(module: LightningModule) -> dict[str, dict[str, Any]]:
    """The accumulated states of every torchmetrics Metric in the module (they are not in its state_dict)."""
    states = {}
    for name, metric in module.named_modules():
        if isinstance(metric, Metric):
            state = {key: _detached(value) for key, value in metric.metric_state.items()}
            states[name] = {"states": state, "updates": metric.update_count}
    return states


def _detached(value: Any) -> Any:
    return [item.detach().clone() for item in value] if isinstance(value, list) else value.detach().clone()


class ExactResume(Callback):
    """What a Lightning checkpoint leaves out and an exact mid-epoch resume needs, restored when training resumes:

    - the global torch / numpy / python / CUDA random-number states (dropout, drop-path). DDP processes start from
      one seed and draw the same amounts from these (per-rank randomness comes from `AugmentationSeeds`), so the
      rank-0 state in the checkpoint fits every rank;
    - the training epoch's running accumulations: torchmetrics states and the sums behind `self.log(...,
      on_epoch=True)`, so the epoch-level training metrics of the interrupted epoch count all of its batches.
      Single-process runs only (under DDP every rank holds its own partial sums; the epoch restarts them)."""

    def __init__(self) -> None:
        self._random_states: dict[str, Any] | None = None
        self._metric_states: dict[str, Any] | None = None
        self._logged_sums: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        state: dict[str, Any] = {"random": _random_states()}
        if trainer.world_size == 1 and trainer.training:
            state["metrics"] = _metric_states(pl_module)
            state["logged"] = {
                key: {"value": result.value.detach().clone(), "count": getattr(result, "cumulated_batch_size", None)}
                for key, result in epoch_log_results(trainer).items()
                if result.is_tensor and result.meta.on_epoch
            }
        checkpoint["exact_resume"] = state

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("exact_resume", {})
        self._random_states = state.get("random")
        self._metric_states = state.get("metrics")
        self._logged_sums = state.get("logged")

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # after the restore, the sanity check and the data loaders' set-up: the next draw is the first training step's
        if self._random_states:
            _set_random_states(self._random_states, pl_module.device)
        modules = dict(pl_module.named_modules())
        for name, saved in (self._metric_states or {}).items():
            metric = modules.get(name)
            if isinstance(metric, Metric):
                for key, value in saved["states"].items():
                    current = getattr(metric, key)
                    device = (
                        current[0].device if isinstance(current, list) and current else getattr(current, "device", None)
                    )
                    setattr(metric, key, [v.to(device) for v in value] if isinstance(value, list) else value.to(device))
                set_metric_update_count(metric, saved["updates"])
        self._random_states = self._metric_states = None

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        # `self.log` makes its accumulators at the first call after the resume: add the saved sums to them once
        sums, self._logged_sums = self._logged_sums, None
        for key, saved in (sums or {}).items():
            result = epoch_log_results(trainer).get(key)
            if result is None or not result.is_tensor:
                continue
            result.value = saved["value"].to(result.value.device) + result.value
            if saved["count"] is not None and hasattr(result, "cumulated_batch_size"):
                result.cumulated_batch_size = saved["count"].to(result.value.device) + result.cumulated_batch_size


def install_fault_tolerance(trainer: Trainer) -> None:
    """What every `lit-vision` trainer gets: atomic checkpoint writes and `ExactResume` state in checkpoints."""
    use_atomic_checkpoints(trainer)
    if not any(isinstance(callback, ExactResume) for callback in trainer.callbacks):
        trainer.callbacks.insert(0, ExactResume())
    if not any(isinstance(callback, GracefulInterrupt) for callback in trainer.callbacks):
        trainer.callbacks.insert(0, GracefulInterrupt())  # Ctrl-C stops at a step boundary


def continue_last_version(trainer: Trainer) -> str | None:
    """For `--ckpt_path last` with a versioned logger (CSV, TensorBoard) and no version given: the newest
    `last*.ckpt` in `<save_dir>/<name>/version_*/checkpoints/`, with the logger pointed at that version so the run
    continues in its own directory (Lightning alone would look in a fresh `version_<n+1>`). None if there is none."""
    logger = trainer.logger
    if not isinstance(logger, CSVLogger | TensorBoardLogger) or logger_version(logger) is not None:
        return None
    candidates = [
        path
        for path in Path(logger.root_dir).glob("*/checkpoints/*.ckpt")
        if LAST_NAME.match(path.stem) and path.is_file()
    ]
    if not candidates:
        return None
    newest = max(candidates, key=lambda path: path.stat().st_mtime)
    version = newest.parent.parent.name
    number = version.removeprefix("version_")
    set_logger_version(logger, int(number) if number.isdigit() else version)
    if isinstance(logger, CSVLogger) and rank_zero_only.rank == 0:
        _keep_csv_rows(logger, newest)
    return str(newest)


def _csv_path(logger: CSVLogger) -> Path:
    return Path(logger.log_dir) / "metrics.csv"


def flush_csv_logger(trainer: Trainer) -> int | None:
    """Write the CSV logger's pending rows; the number of rows in its metrics.csv (None without one, or off rank 0)."""
    logger = next((logger for logger in trainer.loggers if isinstance(logger, CSVLogger)), None)
    if logger is None or not trainer.is_global_zero:
        return None
    logger.save()
    path = _csv_path(logger)
    if not path.is_file():
        return 0
    with open(path, newline="") as file:
        return sum(1 for _ in csv.DictReader(file))


def _keep_csv_rows(logger: CSVLogger, ckpt_path: Path) -> None:
    """Carry the rows of metrics.csv logged before `ckpt_path` was saved into the resumed run's file (all rows when
    the checkpoint does not say how many); rows of the lost steps after it are dropped, the resumed run redoes them."""
    path = _csv_path(logger)
    if not path.is_file():
        return
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
    counts = [state.get("csv_rows") for key, state in checkpoint.get("callbacks", {}).items() if key.startswith("Last")]
    if counts and counts[0] is not None:
        rows = rows[: counts[0]]
    writer = logger.experiment  # creating the writer deletes the old file
    writer.metrics = rows + writer.metrics
    writer.save()
