"""The only module that touches private attributes of Lightning, wandb, jsonargparse and torchmetrics.

Each function wraps one private thing another package may move in an upgrade; tests/test_compat.py calls each on real
objects, so an upgrade that moves one fails there by name instead of deep inside a run. pyproject.toml bounds these
packages from above and constraints.txt pins the versions CI tested. Imports are local: importing this module is free.
"""

from __future__ import annotations

from typing import Any


# --- jsonargparse --------------------------------------------------------------------------------------------------
def jsonargparse_debug_mode() -> bool:
    """Whether jsonargparse shows full tracebacks (JSONARGPARSE_DEBUG): then our one-line errors step aside."""
    from jsonargparse._common import debug_mode_active

    return bool(debug_mode_active())


# --- Lightning: trainer internals ----------------------------------------------------------------------------------
def epoch_log_results(trainer: Any) -> Any:
    """The training epoch's `self.log(..., on_epoch=True)` accumulators: key -> result with `.value`, `.meta`, and
    `.cumulated_batch_size` for means (Lightning's `_ResultCollection`, a dict)."""
    return trainer.fit_loop.epoch_loop._results


def step_metrics_logged_after_batch_end(trainer: Any) -> bool:
    """Whether Lightning logs the current training step's metrics right after `on_train_batch_end` (its own test:
    not accumulating gradients, and at a `log_every_n_steps` boundary or in a fast_dev_run)."""
    accumulating = trainer.fit_loop._should_accumulate() and trainer.lightning_module.automatic_optimization
    return not accumulating and (trainer._logger_connector.should_update_logs or bool(trainer.fast_dev_run))


def attached_trainer(module: Any) -> Any:
    """The Trainer a LightningModule is attached to, or None (`module.trainer` raises when there is none)."""
    return module._trainer


# --- Lightning: checkpoints ----------------------------------------------------------------------------------------
def is_local_path(path: Any) -> bool:
    """Whether a checkpoint path is on the local file system (not s3://, gs://, ...), as Lightning decides it."""
    from lightning.fabric.utilities.cloud_io import _is_local_file_protocol

    return bool(_is_local_file_protocol(path))


def replace_default_checkpoint_io(strategy: Any, checkpoint_io: Any) -> bool:
    """Give `strategy` `checkpoint_io` unless a custom CheckpointIO was configured (the default TorchCheckpointIO,
    also inside a precision plugin's wrapper such as AsyncCheckpointIO, is replaced); returns whether it was."""
    from lightning.pytorch.plugins.io import TorchCheckpointIO
    from lightning.pytorch.plugins.io.wrapper import _WrappingCheckpointIO

    current = strategy._checkpoint_io
    if current is None or type(current) is TorchCheckpointIO:
        strategy.checkpoint_io = checkpoint_io
        return True
    if isinstance(current, _WrappingCheckpointIO) and current.checkpoint_io is None:
        current.checkpoint_io = checkpoint_io
        return True
    return False


def last_saved_step(checkpoint: Any) -> int:
    """The global step a ModelCheckpoint last saved at."""
    return checkpoint._last_global_step_saved


def save_last_checkpoint(checkpoint: Any, trainer: Any) -> None:
    """Make a ModelCheckpoint write its `last.ckpt` now (with the current monitored values)."""
    checkpoint._save_last_checkpoint(trainer, checkpoint._monitor_candidates(trainer))


def saves_on_exception(checkpoint: Any, trainer: Any) -> bool:
    """Whether a ModelCheckpoint with `save_on_exception=True` would save at an exception now."""
    return bool(checkpoint._should_save_on_exception(trainer))


def averaged_model(callback: Any) -> Any:
    """The `AveragedModel` of a WeightAveraging callback (None before fit sets it up)."""
    return callback._average_model


def set_model_parallel_sizes(strategy: Any, data_parallel: int, tensor_parallel: int) -> None:
    """Set a ModelParallelStrategy's mesh shape before its `setup_environment` builds the device mesh (its
    constructor takes only numbers fixed in advance or "auto" = nodes x processes per node)."""
    strategy._data_parallel_size = data_parallel
    strategy._tensor_parallel_size = tensor_parallel


def set_peak_flops(monitor: Any, flops: float) -> None:
    """Give a ThroughputMonitor (after its `setup`) the peak FLOP/s of one device, for MFU on devices Lightning's
    table lacks."""
    monitor.available_flops = flops
    for throughput in monitor._throughputs.values():
        throughput.available_flops = flops


# --- Lightning: loggers --------------------------------------------------------------------------------------------
def logger_version(logger: Any) -> Any:
    """The version a CSV/TensorBoard logger was given or has chosen (None while still open)."""
    return logger._version


def set_logger_version(logger: Any, version: int | str) -> None:
    """Point a CSV/TensorBoard logger at `version` before it creates its directory."""
    logger._version = version


def wandb_logger_run(logger: Any) -> Any:
    """The wandb run a WandbLogger has started, or None (`logger.experiment` would start one)."""
    return logger._experiment


def resume_wandb_run_later(logger: Any, run_id: str) -> None:
    """Make a WandbLogger whose run was finished resume run `run_id` on its next use (instead of logging into the
    finished run); `logger.version` keeps naming the run."""
    logger._wandb_init.update(id=run_id, resume="allow")
    logger._id, logger._experiment = run_id, None


# --- wandb ---------------------------------------------------------------------------------------------------------
def mark_wandb_message_shown(message: str) -> None:
    """Make wandb treat a `repeat=False` terminal message (or warning) as already printed, so it never shows it."""
    from wandb.errors import term

    term._printed_messages.update({message, f"{term.WARN_STRING} {message}"})


# --- torchmetrics --------------------------------------------------------------------------------------------------
def set_metric_update_count(metric: Any, count: int) -> None:
    """Restore how many times a torchmetrics Metric was updated (read publicly as `metric.update_count`)."""
    metric._update_count = count
