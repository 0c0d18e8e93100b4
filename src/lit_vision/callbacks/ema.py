"""EMA of the weights, evaluated in place of the raw weights (validation, checkpoints, the final model).

Built on Lightning's `WeightAveraging` (which keeps an `AveragedModel`, swaps it in for validation and stores it as
the checkpoint's `state_dict`), with two changes: the decay warms up like timm's ModelEmaV3 (1 - (1 + step)^-2/3,
capped at `decay`) so short runs are not dominated by the initial weights, and outside `fit` the callback leaves
the model alone, so `test`/`validate`/`predict` with a checkpoint evaluate the EMA weights it holds.
"""

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import WeightAveraging
from lightning.pytorch.trainer.states import TrainerFn

from lit_vision._compat import averaged_model


class EMA(WeightAveraging):
    """Exponential moving average of the weights, used for validation, checkpoints and the final model.

    Args:
        decay: EMA rate once warmed up (timm's DeiT/Swin recipes use 0.99996 with ~1.25 M steps; short runs want
            0.999).
        warmup: warm the decay up as 1 - (1 + updates)^-warmup_power, capped at ``decay`` (timm's ModelEmaV3).
        warmup_power: exponent of the decay warmup.
        update_every_n_steps: update the average every n optimizer steps.
        start_step: optimizer steps before the first update.
        device: device of the averaged copy, e.g. "cpu" to keep it off the GPU; None for the model's device.
        use_buffers: average BatchNorm statistics too (integer buffers are copied).
    """

    def __init__(
        self,
        decay: float = 0.9998,
        warmup: bool = True,
        warmup_power: float = 2 / 3,
        update_every_n_steps: int = 1,
        start_step: int = 0,
        device: str | None = None,
        use_buffers: bool = True,
    ) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay={decay} must lie in [0, 1], e.g. 0.9998")
        if update_every_n_steps < 1 or start_step < 0:
            raise ValueError("EMA update_every_n_steps must be >= 1 and start_step >= 0")
        super().__init__(device=device, use_buffers=use_buffers, multi_avg_fn=self._lerp)
        self.decay = decay
        self.warmup = warmup
        self.warmup_power = warmup_power
        self.update_every_n_steps = update_every_n_steps
        self.start_step = start_step
        self._step = 0
        self._swapped = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        from lightning.pytorch.strategies import DeepSpeedStrategy, FSDPStrategy, ModelParallelStrategy

        if stage == "fit" and isinstance(trainer.strategy, DeepSpeedStrategy | FSDPStrategy | ModelParallelStrategy):
            raise ValueError(
                f"the EMA callback keeps a full, unsharded copy of the model and cannot average a model sharded by "
                f"trainer.strategy={type(trainer.strategy).__name__}; remove EMA from trainer.callbacks or train "
                "with configs/trainer/ddp.yaml"
            )
        super().setup(trainer, pl_module, stage)

    def decay_at(self, step: int) -> float:
        """Decay used for the update after optimizer step `step` (1-based)."""
        if not self.warmup:
            return self.decay
        updates = max(0, step - self.start_step)
        return min(self.decay, 1.0 - (1.0 + updates) ** -self.warmup_power)

    @torch.no_grad()
    def _lerp(self, averaged: list[torch.Tensor], current: list[torch.Tensor], _num_averaged: Any) -> None:
        if averaged[0].is_floating_point() or averaged[0].is_complex():
            torch._foreach_lerp_(averaged, current, 1.0 - self.decay_at(self._step))
        else:  # step counters and other integer buffers
            for average, value in zip(averaged, current):
                average.copy_(value)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        if step_idx is None:
            return False
        return step_idx >= self.start_step and (step_idx - self.start_step) % self.update_every_n_steps == 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        self._step = trainer.global_step
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def _active(self, trainer: L.Trainer) -> bool:
        """Fitting, with at least one update (before it the copy holds the initial weights)."""
        average = averaged_model(self)
        averaged = average is not None and bool(average.n_averaged > 0)
        return averaged and trainer.state.fn == TrainerFn.FITTING

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._swapped = self._active(trainer)
        if self._swapped:
            super().on_validation_epoch_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if getattr(self, "_swapped", False):
            super().on_validation_epoch_end(trainer, pl_module)
        self._swapped = False

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._active(trainer):
            super().on_train_end(trainer, pl_module)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if self._active(trainer):
            super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # outside fit the checkpoint's state_dict (the EMA weights) is what should be evaluated: keep it
        if trainer.state.fn == TrainerFn.FITTING and averaged_model(self) is not None:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
