"""Throughput and MFU: Lightning's `ThroughputMonitor`, fed with lit-vision's batch sizes and model FLOPs."""

from __future__ import annotations

from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ThroughputMonitor
from torch import Tensor

from lit_vision._compat import set_peak_flops

# FLOPs per multiply-accumulate, and a training step's cost in forward passes (the backward pass costs two)
FLOPS_PER_MAC = 2
TRAINING_PASSES = 3


def batch_size(batch: Any) -> int:
    """Samples in a batch: the leading size of its first tensor (images, or source sequences)."""
    if isinstance(batch, Tensor):
        return len(batch)
    if isinstance(batch, list | tuple) and batch:
        return batch_size(batch[0])
    if isinstance(batch, dict) and batch:
        return batch_size(next(iter(batch.values())))
    return 0


class ThroughputLogger(ThroughputMonitor):
    """Lightning's `ThroughputMonitor` for lit-vision models: every `log_every_n_steps` it logs rolling averages over
    `window` batches of `train/device/samples_per_sec` and `train/device/batches_per_sec` (per device; with several
    devices also `train/samples_per_sec` for all), the same for `validate/...`, and with the model's FLOPs
    `train/device/flops_per_sec` and `train/device/mfu` (model FLOPs utilization: achieved / peak FLOP/s of the
    device, for devices whose peak Lightning knows, or `peak_flops`). Training FLOPs per sample are 3 x 2 x the multiply-accumulates of one forward pass
    (`lit_vision.interop.profile`, attention included); evaluation counts the forward pass only.

    Args:
        window: batches in each rolling average (>= 2); short runs log rates only once this many batches ran.
        mfu: count the model's FLOPs once at the start of fit to log FLOP/s and MFU; false logs samples and batches.
        peak_flops: peak FLOP/s of one device for MFU where Lightning does not know it (CPUs, new GPUs); null to
            use Lightning's table (A100, H100, ... at the run's precision).
    """

    def __init__(self, window: int = 10, mfu: bool = True, peak_flops: float | None = None) -> None:
        if window < 2:
            raise ValueError(f"window={window} must be >= 2 (batches per rolling average)")
        if peak_flops is not None and peak_flops <= 0:
            raise ValueError(f"peak_flops={peak_flops} must be positive (FLOP/s of one device) or null")
        super().__init__(batch_size_fn=batch_size, window_size=window)
        self.mfu = mfu
        self.peak_flops = peak_flops
        self.flops_per_sample: float | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if self.peak_flops is not None:
            set_peak_flops(self, self.peak_flops)

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.mfu and self.flops_per_sample is None:
            from lit_vision.callbacks.model_summary import count_macs

            macs = count_macs(pl_module)
            self.flops_per_sample = FLOPS_PER_MAC * macs if macs else None

    def _set_flops(self, pl_module: LightningModule, batch: Any, passes: int) -> None:
        # ThroughputMonitor reads `flops_per_batch` from the module at every batch end
        if self.flops_per_sample is not None:
            pl_module.flops_per_batch = int(passes * self.flops_per_sample * batch_size(batch))
        elif not hasattr(pl_module, "flops_per_batch"):
            pl_module.flops_per_batch = None  # no FLOPs: samples and batches only, without Lightning's warning

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        self._set_flops(pl_module, batch, TRAINING_PASSES)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._set_flops(pl_module, batch, 1)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._set_flops(pl_module, batch, 1)

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._set_flops(pl_module, batch, 1)
