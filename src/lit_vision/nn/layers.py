"""Building blocks and argument checks shared by the networks of ``lit_vision.nn`` (ViT, Swin, Transformer, ConvMixer).

Blocks: ``DropPath`` (stochastic depth), ``Mlp`` (Linear -> GELU -> Linear), ``LayerScale``; init: ``init_linear_``.
Checks raise one-line ``ValueError``s that name the argument, the bad value and the fix: ``check_positive``,
``check_rates``, ``check_heads``, ``check_divisible``, ``check_images``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lit_vision.nn.chunked import chunking_applies
from lit_vision.nn.chunked_mlp import TRAIN_MIN_BYTES as CHUNKED_MLP_TRAIN_MIN_BYTES
from lit_vision.nn.chunked_mlp import chunked_mlp

__all__ = [
    "DropPath",
    "LayerScale",
    "Mlp",
    "check_divisible",
    "check_heads",
    "check_images",
    "check_positive",
    "check_rates",
    "init_linear_",
    "pair",
]


def pair(value: int | Sequence[int]) -> tuple[int, int]:
    """``7`` -> ``(7, 7)``; ``(h, w)`` -> ``(h, w)``."""
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


# --- checks --------------------------------------------------------------------------------------------------------
def check_positive(**values: int) -> None:
    """Each named value must be an integer >= 1."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value} must be a positive integer")


def check_rates(**rates: float) -> None:
    """Each named dropout / drop-path probability must lie in [0, 1)."""
    for name, value in rates.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name}={value} must be in [0, 1)")


def check_heads(num_heads: int, dim: int, heads_name: str = "num_heads", width: str | None = None) -> None:
    """``num_heads`` must be positive and divide the width ``dim`` (described by ``width``, default
    ``embed_dim=<dim>``); the error lists the valid head counts."""
    if num_heads < 1 or dim % num_heads:
        divisors = [d for d in range(1, min(dim, 64) + 1) if dim % d == 0]
        raise ValueError(
            f"{heads_name}={num_heads} does not divide {width or f'embed_dim={dim}'}; use one of {divisors}"
        )


def check_divisible(name: str, size: tuple[int, int], patch_size: tuple[int, int]) -> None:
    """Each side of ``size`` must be a multiple of the patch side; the error names the nearest valid sides."""
    for side, patch in zip(size, patch_size):
        if side % patch:
            lower, upper = side // patch * patch, (side // patch + 1) * patch
            nearest = f"{lower} or {upper}" if lower > 0 else f"{upper}"
            raise ValueError(
                f"{name}={size[0]}x{size[1]} is not divisible by patch_size={patch_size[0]}x{patch_size[1]}; "
                f"use a side of {nearest} (a multiple of {patch}) or a patch_size that divides it"
            )


def check_images(x: Tensor, in_chans: int) -> None:
    """``x`` must be a (batch, in_chans, height, width) image batch."""
    if x.ndim != 4 or x.shape[1] != in_chans:
        raise ValueError(
            f"input of shape {tuple(x.shape)} is not (batch, {in_chans}, height, width); "
            f"pass images with in_chans={in_chans} channels"
        )


# --- init ------------------------------------------------------------------------------------------------------------
def init_linear_(module: nn.Module, std: float = 0.02) -> None:
    """timm / DeiT / Swin init of every ``nn.Linear`` inside ``module``: truncated normal weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.trunc_normal_(layer.weight, std=std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


# --- blocks ----------------------------------------------------------------------------------------------------------
class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample with probability ``drop_prob`` while training.

    Args:
        drop_prob: probability of dropping a sample's branch; kept samples are scaled by 1 / (1 - drop_prob).
    """

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def _scale(self, x: Tensor) -> Tensor:
        """Per-sample factor (B, 1, ...): 0 for a dropped sample, 1 / keep_prob for a kept one."""
        keep_prob = 1.0 - self.drop_prob
        return x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep_prob).div_(keep_prob)

    def forward(self, x: Tensor) -> Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        return x * self._scale(x)

    def add_to(self, residual: Tensor, x: Tensor) -> Tensor:
        """``residual + self(x)`` in one pass over memory (``addcmul``) while dropping."""
        if self.drop_prob == 0.0 or not self.training:
            return residual + x
        return torch.addcmul(residual, x, self._scale(x))

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class LayerScale(nn.Module):
    """Per-channel learnable scaling of a residual branch (CaiT).

    Args:
        dim: channels.
        init_values: initial value of every scale.
    """

    def __init__(self, dim: int, init_values: float = 1e-5):
        super().__init__()
        self.init_values = init_values
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    """Position-wise feed-forward: Linear -> GELU -> Dropout -> Linear -> Dropout (timm's names ``fc1``, ``fc2``).

    Without dropout, on the CPU in float32 (``chunked`` None, the default: for inference, and for training when the
    hidden activation is large; True: always) it runs a chunk of tokens at a time (``chunked_mlp``); ``chunked =
    False`` keeps the layer-by-layer path.

    Args:
        dim: input and output width.
        hidden_dim: width of the hidden layer.
        drop: dropout after the activation and after the output layer.
    """

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop2 = nn.Dropout(drop)
        self.chunked: bool | None = None

    def forward(self, x: Tensor) -> Tensor:
        dropout = self.training and self.drop1.p > 0
        hidden = x.numel() // x.shape[-1] * self.fc1.out_features
        min_bytes = CHUNKED_MLP_TRAIN_MIN_BYTES if torch.is_grad_enabled() else 0
        if not dropout and chunking_applies(x, self.chunked, hidden, min_bytes):
            return chunked_mlp(x, self.fc1, self.fc2)
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))
