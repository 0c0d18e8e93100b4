"""Plain progress lines for log files: with stdout redirected (`make train > log`, SLURM jobs) a progress bar shows
nothing until the end, so `ProgressLog` prints one line per epoch, and every N steps in long epochs:

    epoch 3/40 step 120/1000 | 0:01:23 elapsed, ETA 0:08:10 | 850 samples/s | train/loss 0.412 val/acc 0.931

`LitVisionCLI` adds it to every `fit` whose stdout is not a terminal (unless the config already has one).
"""

import math
import sys
import time
from datetime import timedelta
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

STEP_LINES_PER_EPOCH = 10  # automatic step lines: about this many per long epoch
LONG_EPOCH_STEPS = 200  # epochs with fewer training batches get epoch lines only


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=int(max(seconds, 0))))


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return len(batch)
    if isinstance(batch, list | tuple) and batch:
        return _batch_size(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_size(next(iter(batch.values())))
    return 0


class ProgressLog(Callback):
    """One plain line of training progress per epoch and every `every_n_steps` optimizer steps.

    Args:
        every_n_steps: optimizer steps between step lines; None: about ten lines per epoch for epochs of 200 or
            more batches and none for shorter ones; 0: epoch lines only.
        only_when_redirected: print only when stdout is not a terminal (a progress bar shows progress there).
    """

    def __init__(self, every_n_steps: int | None = None, only_when_redirected: bool = True) -> None:
        if every_n_steps is not None and every_n_steps < 0:
            raise ValueError(f"ProgressLog every_n_steps={every_n_steps} must be >= 0 (0: epoch lines only)")
        self.every_n_steps = every_n_steps
        self.only_when_redirected = only_when_redirected
        self._interval = 0
        self._start = 0.0
        self._start_step = 0
        self._samples = 0
        self._total_steps: int | float = math.inf
        self._active = False

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._active = trainer.is_global_zero and not (self.only_when_redirected and sys.stdout.isatty())
        self._start, self._start_step, self._samples = time.monotonic(), trainer.global_step, 0
        try:
            self._total_steps = trainer.estimated_stepping_batches
        except Exception:  # an iterable without a length: no ETA
            self._total_steps = math.inf
        batches = trainer.num_training_batches
        if self.every_n_steps is not None:
            self._interval = self.every_n_steps
        elif isinstance(batches, int) and batches >= LONG_EPOCH_STEPS:
            self._interval = math.ceil(batches / STEP_LINES_PER_EPOCH)
        else:
            self._interval = 0

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx) -> None:
        self._samples += _batch_size(batch)
        if (
            self._active
            and self._interval
            and trainer.global_step % self._interval == 0
            and not self._is_epoch_end(trainer, batch_idx)
        ):
            self._print(trainer, ("train/",), prefer="_step")

    @staticmethod
    def _is_epoch_end(trainer: Trainer, batch_idx: int) -> bool:
        batches = trainer.num_training_batches
        return isinstance(batches, int) and batch_idx + 1 >= batches

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._active:  # runs after the epoch's validation: train and val metrics of this epoch
            self._print(trainer, ("train/", "val/"), prefer="_epoch")

    @rank_zero_only
    def _print(self, trainer: Trainer, prefixes: tuple[str, ...], prefer: str) -> None:
        elapsed = time.monotonic() - self._start
        steps_done = trainer.global_step - self._start_step
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        total = f"/{int(self._total_steps)}" if math.isfinite(self._total_steps) else ""
        parts = [f"epoch {trainer.current_epoch + 1}{epochs} step {trainer.global_step}{total}"]
        timing = f"{_duration(elapsed)} elapsed"
        if steps_done > 0 and math.isfinite(self._total_steps):
            remaining = max(self._total_steps - trainer.global_step, 0)
            timing += f", ETA {_duration(elapsed / steps_done * remaining)}"
        parts.append(timing)
        if elapsed > 0 and self._samples:
            parts.append(f"{self._samples / elapsed:.0f} samples/s")
        metrics = _latest_metrics(trainer.callback_metrics, prefixes, prefer)
        if metrics:
            parts.append(metrics)
        print(" | ".join(parts), flush=True)


def _latest_metrics(metrics: dict[str, Any], prefixes: tuple[str, ...], prefer: str) -> str:
    """`train/loss 0.412 val/acc 0.931`: scalar metrics under `prefixes`; of `x_step` and `x_epoch` the `prefer` one.
    Step lines (prefer `_step`) show only metrics logged per step."""
    shown: dict[str, float] = {}
    for key in sorted(metrics, key=lambda key: not key.endswith(prefer)):
        value = metrics[key]
        if not key.startswith(prefixes) or not isinstance(value, torch.Tensor) or value.numel() != 1:
            continue
        name = key.removesuffix("_epoch").removesuffix("_step")
        if name not in shown and (prefer != "_step" or key.endswith("_step")):
            shown[name] = float(value)
    return " ".join(f"{name} {shown[name]:.4g}" for name in sorted(shown))


def install_progress_log(trainer: Trainer) -> None:
    """Give the trainer a `ProgressLog` when stdout is not a terminal and the config has none."""
    if not sys.stdout.isatty() and not any(isinstance(callback, ProgressLog) for callback in trainer.callbacks):
        trainer.callbacks.append(ProgressLog())
