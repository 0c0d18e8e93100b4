"""A grid of validation images titled with their true and predicted labels, every few epochs."""

from __future__ import annotations

import math

import numpy as np
from lightning import Callback, LightningModule, Trainer
from torch import Tensor

from lit_vision.callbacks.media import (
    OutputCatcher,
    check_every_n_epochs,
    class_names,
    class_scores,
    displayable,
    figure_to_array,
    hard_labels,
    is_logging_epoch,
    log_image,
    new_figure,
)


class PredictionGridLogger(Callback):
    """Logs a grid of the first validation images titled "true → predicted" (green when right, red when wrong).

    Uses the validation step's own forward pass on the first validation batch.

    Args:
        num_samples: images shown.
        columns: images per row.
        every_n_epochs: log every n validation epochs.
        cell_px: side of each image cell in pixels (>= 32).
        key: name the image is logged under.
    """

    def __init__(
        self,
        num_samples: int = 16,
        columns: int = 8,
        every_n_epochs: int = 5,
        cell_px: int = 128,
        key: str = "val/predictions",
    ) -> None:
        check_every_n_epochs(every_n_epochs)
        if num_samples < 1 or columns < 1 or cell_px < 32:
            raise ValueError(f"num_samples={num_samples}, columns={columns} must be >= 1 and cell_px={cell_px} >= 32")
        self.num_samples = num_samples
        self.columns = columns
        self.every_n_epochs = every_n_epochs
        self.cell_px = cell_px
        self.key = key
        self.catcher = OutputCatcher()
        self.last_image: np.ndarray | None = None

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.is_global_zero and is_logging_epoch(trainer, self.every_n_epochs):
            self.catcher.attach(pl_module)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        output = self.catcher.take()
        if output is None:
            return
        self.catcher.detach()  # the first batch is enough
        if not isinstance(batch, list | tuple) or len(batch) < 2 or not isinstance(batch[0], Tensor):
            return
        images, labels = batch[0], batch[1]
        scores = class_scores(pl_module, output, labels)
        if scores is None or images.ndim != 4:
            return
        count = min(self.num_samples, len(images))
        names = class_names(trainer, scores.shape[1])
        truth = hard_labels(labels[:count]).tolist()
        predicted = scores[:count].argmax(dim=-1).tolist()
        self.last_image = render_prediction_grid(
            displayable(images[:count]),
            [names[i] for i in truth],
            [names[i] for i in predicted],
            self.columns,
            self.cell_px,
        )
        correct = sum(t == p for t, p in zip(truth, predicted))
        log_image(trainer, self.key, self.last_image, caption=f"epoch {trainer.current_epoch}: {correct}/{count} right")

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.catcher.detach()


def grid_shape(count: int, columns: int) -> tuple[int, int]:
    columns = min(columns, count)
    return math.ceil(count / columns), columns


def render_prediction_grid(
    images: np.ndarray, truth: list[str], predicted: list[str], columns: int = 8, cell_px: int = 128
) -> np.ndarray:
    """(rows * cell_px, columns * cell_px, 3) uint8; `images` (N, H, W) grey or (N, H, W, 3) in [0, 1]."""
    rows, columns = grid_shape(len(images), columns)
    figure = new_figure(columns * cell_px, rows * cell_px)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        axes = figure.add_axes((column / columns, 1 - (row + 1) / rows, 1 / columns, 0.82 / rows))
        axes.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
        axes.set_axis_off()
        right = truth[index] == predicted[index]
        axes.set_title(f"{truth[index]} → {predicted[index]}", fontsize=12, color="green" if right else "red", pad=2)
    return figure_to_array(figure)
