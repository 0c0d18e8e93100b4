"""Confusion matrix of the validation set as an image, every few epochs."""

from __future__ import annotations

import numpy as np
from lightning import Callback, LightningModule, Trainer
from torchmetrics.classification import MulticlassConfusionMatrix

from lit_vision.callbacks.media import (
    OutputCatcher,
    check_every_n_epochs,
    class_names,
    class_scores,
    figure_to_array,
    hard_labels,
    is_logging_epoch,
    log_image,
    new_figure,
)


class ConfusionMatrixLogger(Callback):
    """Logs the row-normalized validation confusion matrix as an image.

    Counts (true, predicted) pairs from the validation steps' own forward passes (no extra compute). Models whose
    output is not (B, num_classes) scores are skipped.

    Args:
        every_n_epochs: log every n validation epochs.
        size_px: side of the square image in pixels (>= 64).
        annotate_up_to: write the counts into the cells when there are at most this many classes.
        key: name the image is logged under.
    """

    def __init__(
        self, every_n_epochs: int = 5, size_px: int = 512, annotate_up_to: int = 20, key: str = "val/confusion_matrix"
    ) -> None:
        check_every_n_epochs(every_n_epochs)
        if size_px < 64:
            raise ValueError(f"size_px={size_px} is too small to read; use 64 or more")
        self.every_n_epochs = every_n_epochs
        self.size_px = size_px
        self.annotate_up_to = annotate_up_to
        self.key = key
        self.catcher = OutputCatcher()
        self.matrix: MulticlassConfusionMatrix | None = None
        self.last_counts: np.ndarray | None = None
        self.last_image: np.ndarray | None = None
        self.logged_epochs: list[int] = []

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.matrix = None
        if is_logging_epoch(trainer, self.every_n_epochs):
            self.catcher.attach(pl_module)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        output = self.catcher.take()
        if output is None or not isinstance(batch, list | tuple) or len(batch) < 2:
            return
        scores = class_scores(pl_module, output, batch[1])
        if scores is None:
            return
        if self.matrix is None:
            self.matrix = MulticlassConfusionMatrix(scores.shape[1], normalize="none").to(scores.device)
        self.matrix.update(scores.detach().argmax(dim=-1), hard_labels(batch[1]))

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.catcher.detach()
        if self.matrix is None:
            return
        counts = self.matrix.compute().cpu().numpy()  # all-reduced across ranks
        self.matrix = None
        if trainer.is_global_zero:
            self.last_counts = counts
            self.logged_epochs.append(trainer.current_epoch)
            self.last_image = render_confusion_matrix(
                counts, class_names(trainer, len(counts)), self.size_px, self.annotate_up_to
            )
            accuracy = np.trace(counts) / max(counts.sum(), 1)
            log_image(trainer, self.key, self.last_image, caption=f"epoch {trainer.current_epoch}, acc {accuracy:.4f}")

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.catcher.detach()


def render_confusion_matrix(counts: np.ndarray, names: list[str], size_px: int = 512, annotate_up_to: int = 20):
    """(size_px, size_px, 3) uint8 heatmap of the row-normalized matrix (rows: true class, columns: predicted)."""
    num_classes = len(counts)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = new_figure(size_px, size_px)
    axes = figure.add_axes((0.16, 0.14, 0.8, 0.8))
    axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.set_xlabel("predicted", fontsize=12)
    axes.set_ylabel("true", fontsize=12)
    if num_classes <= 30:
        ticks = np.arange(num_classes)
        axes.set_xticks(ticks, [name[:8] for name in names], rotation=90, fontsize=10)
        axes.set_yticks(ticks, [name[:8] for name in names], fontsize=10)
    if num_classes <= annotate_up_to:
        for true, predicted in np.ndindex(counts.shape):
            if counts[true, predicted]:
                color = "white" if rates[true, predicted] > 0.5 else "black"
                axes.text(
                    predicted, true, int(counts[true, predicted]), ha="center", va="center", fontsize=9, color=color
                )
    return figure_to_array(figure)
