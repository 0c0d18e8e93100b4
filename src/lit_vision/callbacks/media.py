"""What the media callbacks share: when to log, catching validation outputs, drawing figures, and sending an image to
whichever loggers the trainer has (wandb, TensorBoard; a PNG in the run directory for the others)."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import torch
from lightning import LightningModule, Trainer
from torch import Tensor

from lit_vision.callbacks.save_config import run_dir


def is_logging_epoch(trainer: Trainer, every_n_epochs: int) -> bool:
    """Every `every_n_epochs` validation epochs and the last one; never during the sanity check."""
    if trainer.sanity_checking or every_n_epochs < 1:
        return False
    epoch = trainer.current_epoch + 1
    last = trainer.max_epochs is not None and trainer.max_epochs > 0 and epoch >= trainer.max_epochs
    return epoch % every_n_epochs == 0 or last


def check_every_n_epochs(every_n_epochs: int) -> None:
    if every_n_epochs < 1:
        raise ValueError(f"every_n_epochs={every_n_epochs} must be >= 1; use 1 to log after every validation epoch")


class OutputCatcher:
    """Keeps the latest output of `module.forward` (a forward hook, so no extra forward pass) while attached."""

    def __init__(self) -> None:
        self.output: Any = None
        self._handle = None

    def attach(self, module: torch.nn.Module) -> None:
        self.detach()
        self._handle = module.register_forward_hook(self._keep)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self.output = None

    def _keep(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        self.output = output

    def take(self) -> Any:
        output, self.output = self.output, None
        return output


def class_scores(pl_module: LightningModule, output: Any, labels: Any) -> Tensor | None:
    """(B, num_classes) real scores for (B,) integer labels, or None when the model's output is not a classifier's."""
    if not isinstance(output, Tensor) or not isinstance(labels, Tensor):
        return None
    scores = pl_module.scores(output) if hasattr(pl_module, "scores") else output
    if scores.ndim != 2 or scores.is_complex() or len(scores) != len(labels):
        return None
    if labels.ndim == 2 and labels.is_floating_point():  # mixup / soft targets
        labels = labels.argmax(dim=-1)
    if labels.ndim != 1 or labels.is_floating_point():
        return None
    return scores


def hard_labels(labels: Tensor) -> Tensor:
    return labels.argmax(dim=-1) if labels.is_floating_point() and labels.ndim == 2 else labels


def class_names(trainer: Trainer, num_classes: int) -> list[str]:
    names = getattr(trainer.datamodule, "class_names", None) if trainer.datamodule is not None else None
    if names is not None and len(names) == num_classes:
        return [str(name) for name in names]
    return [str(i) for i in range(num_classes)]


def displayable(images: Tensor) -> np.ndarray:
    """(B, C, H, W) normalized images -> (B, H, W) or (B, H, W, 3) floats in [0, 1], each scaled by its own range."""
    images = images.detach().float().cpu()
    if images.is_complex():
        images = images.abs()
    images = images[:, :3] if images.shape[1] >= 3 else images[:, :1]
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    images = (images - low) / (high - low).clamp_min(1e-8)
    array = images.permute(0, 2, 3, 1).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


def new_figure(width_px: int, height_px: int, dpi: int = 64):
    """A matplotlib Figure of exactly width_px x height_px pixels (Agg canvas, no pyplot global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def figure_to_array(figure) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of a drawn figure."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def log_image(trainer: Trainer, key: str, image: np.ndarray, caption: str | None = None) -> list[str]:
    """Send an (H, W, 3) uint8 image to every logger; returns where it went (for tests and the curious)."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
    from lightning.pytorch.loggers.logger import DummyLogger

    sent = []
    step = trainer.global_step
    for logger in trainer.loggers:
        if isinstance(logger, DummyLogger):  # fast_dev_run
            continue
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[image], caption=[caption] if caption else None, step=step)
            sent.append("wandb")
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image, global_step=step, dataformats="HWC")
            sent.append("tensorboard")
        else:
            sent.append(save_png(trainer, key, image))
    return sent


def save_png(trainer: Trainer, key: str, image: np.ndarray) -> str:
    """`<run dir>/media/<key>_epoch<NNN>.png`, for loggers that take no images (CSV)."""
    from matplotlib.image import imsave

    directory = os.path.join(run_dir(trainer), "media")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', key)}_epoch{trainer.current_epoch:03d}.png")
    imsave(path, image)
    return path
