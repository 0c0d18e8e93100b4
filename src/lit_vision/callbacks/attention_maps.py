"""Attention maps of ViT and Swin on a few validation images, every few epochs; other models are skipped.

The network must expose `get_attention_maps(images)`: ViT returns one (B, heads, N, N) map per block, Swin one
(B, windows, heads, N, N) per block. Each map becomes a heatmap on the image grid: the class token's attention to each
patch when there is one, otherwise the attention each token receives (averaged over heads and queries); Swin's windows
are put back in place (undoing padding and the cyclic shift).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from torch import Tensor, nn

from lit_vision.callbacks.media import (
    check_every_n_epochs,
    displayable,
    figure_to_array,
    is_logging_epoch,
    log_image,
    new_figure,
)


def attention_source(pl_module: nn.Module) -> nn.Module | None:
    """The module whose `get_attention_maps` to call: the LightningModule itself or its `net`; None for a model
    sharded by FSDP2 (rank 0 alone cannot run its forward)."""
    from lit_vision.strategies import is_sharded

    if is_sharded(pl_module):
        return None
    for module in (pl_module, getattr(pl_module, "net", None)):
        if module is not None and callable(getattr(module, "get_attention_maps", None)):
            return module
    return None


class AttentionMapLogger(Callback):
    """Logs validation images (rows) with the attention maps of evenly spaced blocks (columns, last block included).

    Args:
        num_samples: validation images shown, one per row.
        max_blocks: most blocks shown, one per column, evenly spaced and ending at the last block.
        every_n_epochs: log every n validation epochs.
        cell_px: side of each image cell in pixels (>= 32).
        key: name the image is logged under.
    """

    def __init__(
        self,
        num_samples: int = 4,
        max_blocks: int = 4,
        every_n_epochs: int = 5,
        cell_px: int = 128,
        key: str = "val/attention",
    ) -> None:
        check_every_n_epochs(every_n_epochs)
        if num_samples < 1 or max_blocks < 1 or cell_px < 32:
            raise ValueError(
                f"num_samples={num_samples} and max_blocks={max_blocks} must be >= 1 and cell_px={cell_px} >= 32"
            )
        self.num_samples = num_samples
        self.max_blocks = max_blocks
        self.every_n_epochs = every_n_epochs
        self.cell_px = cell_px
        self.key = key
        self.images: Tensor | None = None
        self.last_image: np.ndarray | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx or dataloader_idx or self.images is not None or not trainer.is_global_zero:
            return
        if attention_source(pl_module) is None or not is_logging_epoch(trainer, self.every_n_epochs):
            return
        images = batch[0] if isinstance(batch, list | tuple) else batch
        if isinstance(images, Tensor) and images.ndim == 4:
            self.images = images[: self.num_samples].detach().clone()

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        images, self.images = self.images, None
        source = attention_source(pl_module)
        if images is None or source is None:
            return
        with torch.no_grad():
            heatmaps = attention_heatmaps(source, images)
        if not heatmaps:
            return
        chosen = sorted({round(i) for i in np.linspace(0, len(heatmaps) - 1, min(self.max_blocks, len(heatmaps)))})
        columns = [(f"block {i}", heatmaps[i].float().cpu().numpy()) for i in chosen]
        self.last_image = render_attention(displayable(images), columns, self.cell_px)
        log_image(trainer, self.key, self.last_image, caption=f"epoch {trainer.current_epoch}")


def attention_heatmaps(net: nn.Module, images: Tensor) -> list[Tensor]:
    """One (B, h, w) map per block, on the block's token grid."""
    block_sizes: list[tuple[nn.Module, int, int]] = []

    def remember_size(module: nn.Module, inputs: tuple) -> None:
        if inputs and isinstance(inputs[0], Tensor) and inputs[0].ndim == 4:
            block_sizes.append((module, inputs[0].shape[1], inputs[0].shape[2]))

    windowed = [m for m in net.modules() if callable(getattr(m, "window_and_shift", None))]
    handles = [module.register_forward_pre_hook(remember_size) for module in windowed]
    try:
        maps = net.get_attention_maps(images)
    finally:
        for handle in handles:
            handle.remove()
    heatmaps = []
    for index, weights in enumerate(maps):
        if weights.ndim == 4:
            heatmap = _token_heatmap(net, images, weights)
        elif weights.ndim == 5 and index < len(block_sizes):
            heatmap = _window_heatmap(weights, *block_sizes[index])
        else:
            heatmap = None
        if heatmap is not None:
            heatmaps.append(heatmap)
    return heatmaps


def _token_heatmap(net: nn.Module, images: Tensor, weights: Tensor) -> Tensor | None:
    """ViT: (B, heads, N, N) -> (B, h, w) on the patch grid."""
    tokens = weights.shape[-1]
    patch = getattr(net, "patch_size", None)
    if isinstance(patch, int):
        patch = (patch, patch)
    if patch:
        grid = (images.shape[-2] // patch[0], images.shape[-1] // patch[1])
    else:
        side = math.isqrt(tokens)
        grid = (side, side)
    prefix = tokens - grid[0] * grid[1]
    if prefix < 0:
        return None
    weights = weights.mean(dim=1)  # over heads
    received = weights[:, 0, prefix:] if prefix else weights.mean(dim=1)
    return received.reshape(len(weights), *grid)


def _window_heatmap(weights: Tensor, block: nn.Module, height: int, width: int) -> Tensor | None:
    """Swin: (B, windows, heads, N, N) of a block that ran on a (height, width) map -> (B, height, width)."""
    window, shift = block.window_and_shift(height, width)
    padded = (math.ceil(height / window[0]) * window[0], math.ceil(width / window[1]) * window[1])
    rows, cols = padded[0] // window[0], padded[1] // window[1]
    batch, num_windows, _, tokens, _ = weights.shape
    if num_windows != rows * cols or tokens != window[0] * window[1]:
        return None
    received = weights.mean(dim=(2, 3))  # over heads and queries: (B, windows, N)
    grid = received.view(batch, rows, cols, *window).permute(0, 1, 3, 2, 4).reshape(batch, *padded)
    return torch.roll(grid[:, :height, :width], shifts=shift, dims=(1, 2))


def render_attention(images: np.ndarray, columns: list[tuple[str, np.ndarray]], cell_px: int = 128) -> np.ndarray:
    """(N * cell_px, (1 + len(columns)) * cell_px, 3) uint8: each row an image, then its maps overlaid on it."""
    rows, width = len(images), 1 + len(columns)
    figure = new_figure(width * cell_px, rows * cell_px)
    for row, image in enumerate(images):
        extent = (0, image.shape[1], image.shape[0], 0)
        for column in range(width):
            axes = figure.add_axes((column / width, 1 - (row + 1) / rows, 1 / width, 0.85 / rows))
            axes.set_axis_off()
            axes.imshow(image, cmap="gray" if image.ndim == 2 else None, extent=extent, interpolation="nearest")
            if column == 0:
                axes.set_title("input", fontsize=12, pad=2)
                continue
            title, heatmaps = columns[column - 1]
            axes.imshow(heatmaps[row], cmap="inferno", alpha=0.6, extent=extent, interpolation="nearest")
            axes.set_title(title, fontsize=12, pad=2)
    return figure_to_array(figure)
