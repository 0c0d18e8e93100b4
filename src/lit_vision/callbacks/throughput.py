"""Training and validation throughput in samples (images) per second."""

from __future__ import annotations

import time
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from torch import Tensor


def batch_size(batch: Any) -> int:
    """Samples in a batch: the leading size of its first tensor (images, or source sequences)."""
    if isinstance(batch, Tensor):
        return len(batch)
    if isinstance(batch, list | tuple) and batch:
        return batch_size(batch[0])
    if isinstance(batch, dict) and batch:
        return batch_size(next(iter(batch.values())))
    return 0


class ThroughputLogger(Callback):
    """Logs `perf/train_samples_per_s` over each window of `window` training batches (default: the trainer's
    log_every_n_steps) and `perf/val_samples_per_s` per validation epoch, summed over all devices (assumes equal
    batches per device). Wall-clock time includes data loading; the device is synchronized only at window ends.

    Args:
        window: training batches per measurement; None for the trainer's ``log_every_n_steps``.
    """

    def __init__(self, window: int | None = None) -> None:
        if window is not None and window < 1:
            raise ValueError(f"window={window} must be >= 1 (steps per measurement) or null for log_every_n_steps")
        self.window = window
        self._train = _Meter()
        self._val = _Meter()

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._train.start(pl_module.device)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._train.add(batch_size(batch))
        if self._train.steps >= (self.window or max(trainer.log_every_n_steps, 1)):
            rate = self._train.rate(pl_module.device) * trainer.world_size
            pl_module.log("perf/train_samples_per_s", rate, on_step=True, on_epoch=False, sync_dist=False)
            self._train.start(pl_module.device)

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._val.start(pl_module.device)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._val.add(batch_size(batch))

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not self._val.samples:
            return
        rate = self._val.rate(pl_module.device) * trainer.world_size
        pl_module.log("perf/val_samples_per_s", rate, on_step=False, on_epoch=True, sync_dist=False)
        # validation ran inside the training window: do not count its time as training time
        self._train.start(pl_module.device)


class _Meter:
    def __init__(self) -> None:
        self.samples = 0
        self.steps = 0
        self.began = time.perf_counter()

    def start(self, device: torch.device) -> None:
        _synchronize(device)
        self.samples, self.steps, self.began = 0, 0, time.perf_counter()

    def add(self, samples: int) -> None:
        self.samples += samples
        self.steps += 1

    def rate(self, device: torch.device) -> float:
        _synchronize(device)
        return self.samples / max(time.perf_counter() - self.began, 1e-9)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
