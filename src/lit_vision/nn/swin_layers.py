"""Layers of the Swin Transformer (``lit_vision.nn.swin``): window partition and token orders, relative-position
bias and shift mask, window attention, the Swin block, patch embedding and patch merging.

Maps are channels-last (B, H, W, C). A block attends inside M x M windows; every second block first shifts the map
cyclically by half a window so that windows straddle the previous block's window borders, and masks (-100) the token
pairs the shift brought together from distant image regions. Parameter names follow timm's ``SwinTransformer``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_vision.nn.chunked import chunking_applies
from lit_vision.nn.chunked_attention import TRAIN_MIN_BYTES as CHUNKED_ATTENTION_TRAIN_MIN_BYTES
from lit_vision.nn.chunked_attention import chunked_window_attention
from lit_vision.nn.layers import DropPath, Mlp, pair

__all__ = [
    "MASK_VALUE",
    "PatchEmbed",
    "PatchMerging",
    "SwinBlock",
    "WindowAttention",
    "permute_tokens",
    "relative_position_index",
    "shifted_window_mask",
    "window_order",
    "window_partition",
    "window_reverse",
]

MASK_VALUE = -100.0  # added to logits of token pairs the cyclic shift made neighbours (reference value)

Window = tuple[int, int]


# --- window layout -------------------------------------------------------------------------------------------------
def window_partition(x: Tensor, window: Window) -> Tensor:
    """(B, H, W, C) -> (B * num_windows, window_h * window_w, C), windows in row-major order; H, W multiples of window."""
    batch, height, width, channels = x.shape
    win_h, win_w = window
    x = x.view(batch, height // win_h, win_h, width // win_w, win_w, channels).transpose(2, 3)
    return x.reshape(-1, win_h * win_w, channels)


def window_reverse(windows: Tensor, window: Window, height: int, width: int) -> Tensor:
    """Inverse of ``window_partition``: (B * num_windows, window_h * window_w, C) -> (B, H, W, C)."""
    win_h, win_w = window
    channels = windows.shape[-1]
    x = windows.view(-1, height // win_h, width // win_w, win_h, win_w, channels).transpose(2, 3)
    return x.reshape(-1, height, width, channels)


def window_order(height: int, width: int, window: Window, shift: Window, device: Any = None) -> Tensor:
    """Raster index (h * width + w) of each token of a (height, width) map (multiples of ``window``) after a cyclic
    shift by ``-shift`` and window partition, in the order ``window_partition`` lays them out."""
    raster = torch.arange(height * width, device=device).view(1, height, width, 1)
    if shift != (0, 0):
        raster = torch.roll(raster, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    return window_partition(raster, window).flatten()


def relative_position_index(window: Window, table_window: Window | None = None, device: Any = None) -> Tensor:
    """(N, N) long index of each (query, key) pair of a window into a (2*Th - 1) * (2*Tw - 1) bias table, N = wh * ww.

    The table is laid out for ``table_window`` (default: ``window``); a smaller window reads the table's centre, i.e.
    the same relative offsets.
    """
    table_h, table_w = table_window or window
    rows, cols = torch.arange(window[0], device=device), torch.arange(window[1], device=device)
    coords = torch.stack(torch.meshgrid(rows, cols, indexing="ij")).flatten(1)
    offsets = coords[:, :, None] - coords[:, None, :]  # (2, N, N): query position - key position
    return (offsets[0] + table_h - 1) * (2 * table_w - 1) + offsets[1] + table_w - 1


def _shift_regions(length: int, window: int, shift: int, device: Any) -> Tensor:
    """Region id (0, 1, 2) of each position along one padded axis after a cyclic shift: rows from the image interior,
    the last window's own rows, and the rows that wrapped around."""
    positions = torch.arange(length, device=device)
    if shift == 0:
        return torch.zeros_like(positions)
    return (positions >= length - window).long() + (positions >= length - shift).long()


def shifted_window_mask(height: int, width: int, window: Window, shift: Window, device: Any = None) -> Tensor:
    """Float (num_windows, N, N) mask for SW-MSA on a (height, width) map (multiples of ``window``): 0 where two tokens
    come from the same image region, -100 where the cyclic shift put distant regions into one window."""
    rows, cols = _shift_regions(height, window[0], shift[0], device), _shift_regions(width, window[1], shift[1], device)
    regions = window_partition((rows[:, None] * 3 + cols)[None, :, :, None], window).squeeze(-1)  # (num_windows, N)
    different = regions[:, :, None] != regions[:, None, :]
    return torch.zeros(different.shape, device=device).masked_fill_(different, MASK_VALUE)


class _PermuteTokens(torch.autograd.Function):
    """x[:, index] for a permutation ``index`` of the token axis of (B, L, C); the gradient is the inverse gather
    (a second gather instead of the scatter-add autograd would use)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, index: Tensor, inverse: Tensor) -> Tensor:
        ctx.save_for_backward(inverse)
        return x.index_select(1, index)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (inverse,) = ctx.saved_tensors
        return grad.index_select(1, inverse), None, None


def permute_tokens(x: Tensor, index: Tensor, inverse: Tensor) -> Tensor:
    """``x[:, index]`` on (B, L, C) for a permutation ``index`` whose inverse permutation is ``inverse``."""
    return _PermuteTokens.apply(x, index, inverse)


# --- layers --------------------------------------------------------------------------------------------------------
class PatchEmbed(nn.Module):
    """Conv patch embedding (kernel = stride = patch) + LayerNorm; pads images to a multiple of the patch size.

    (B, C, H, W) -> (B, ceil(H / p), ceil(W / p), D), channels-last.

    Args:
        patch_size: side (or (h, w)) of the patches.
        in_chans: input channels.
        embed_dim: output channels.
    """

    def __init__(self, patch_size: int | tuple[int, int] = 4, in_chans: int = 3, embed_dim: int = 96):
        super().__init__()
        self.patch_size = pair(patch_size)
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        pad_h, pad_w = (-x.shape[-2]) % self.patch_size[0], (-x.shape[-1]) % self.patch_size[1]
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a learned relative-position bias.

    The bias (plus the shift mask, when given) is added to the logits. While training on the CPU in float32
    (``chunked`` None, the default: when q, k, v take 16 MB or more; True: always), projections and attention run a
    few images' windows at a time (``chunked_attention``). Otherwise ``fused_attn`` picks the kernel: True always
    ``F.scaled_dot_product_attention`` (bias as ``attn_mask``), False always the explicit softmax, None (default) SDPA
    except while training on CPU, where SDPA's fused kernel cannot return the bias gradient and its math fallback is
    slower than the explicit path. Attention weights (``need_weights``) and attention dropout always take the
    explicit path.

    Args:
        dim: token width.
        num_heads: attention heads; must divide ``dim``.
        window_size: (largest) window (h, w); sets the size of the bias table.
        qkv_bias: learn a bias in the qkv projection.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: Window,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ):
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.window_size = window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size[0] - 1) * (2 * window_size[1] - 1), num_heads)
        )
        self.register_buffer("relative_position_index", relative_position_index(window_size), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop_p = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.fused_attn: bool | None = None
        self.chunked: bool | None = None
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self, window: Window | None = None) -> Tensor:
        """(heads, N, N) bias for a window of size ``window`` (default and at most: ``window_size``)."""
        window = window or self.window_size
        num_tokens = window[0] * window[1]
        index = self.relative_position_index
        if window != self.window_size:  # a shrunken window reads the centre of the table
            index = relative_position_index(window, self.window_size, index.device)
        bias = self.relative_position_bias_table[index.view(-1)]
        return bias.view(num_tokens, num_tokens, self.num_heads).permute(2, 0, 1)

    def forward(
        self,
        x: Tensor,
        window: Window | None = None,
        shift_mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Windows (B * num_windows, N, C) -> (B * num_windows, N, C); with ``need_weights`` also the softmax
        weights (B * num_windows, heads, N, N). ``shift_mask`` is (num_windows, N, N) or None."""
        num_windows_total, num_tokens, channels = x.shape
        heads = self.num_heads
        # additive term of the logits: bias (heads, N, N), or bias + shift mask per window (nW, heads, N, N)
        mask = self.relative_position_bias(window)
        if shift_mask is not None:
            mask = mask + shift_mask.unsqueeze(1)
        dropout_p = self.attn_drop_p if self.training else 0.0
        min_bytes = CHUNKED_ATTENTION_TRAIN_MIN_BYTES if torch.is_grad_enabled() else math.inf
        if not (need_weights or dropout_p) and chunking_applies(x, self.chunked, x.numel() * 3, min_bytes):
            return self.proj_drop(chunked_window_attention(x, self.qkv, self.proj, mask.to(x.dtype), heads, self.scale))
        # q, k, v: (B*nW, heads, N, d) views of one projection; unbinding the "3" axis in place lets the backward pass
        # stack the three gradients straight into the projection's (B*nW, N, 3, heads, d) layout (no permute copy)
        qkv = self.qkv(x).view(num_windows_total, num_tokens, 3, heads, self.head_dim)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))
        num_windows = mask.shape[0] if mask.ndim == 4 else 1
        mask = mask.to(q.dtype)  # under autocast q is in the low precision
        weights = None
        if need_weights or not self._use_sdpa(x):
            # logits viewed per image (B, nW, heads, N, N), so the per-window term broadcasts over the batch; the add is
            # out of place: in place on the view, autograd would copy the logits' gradient twice (CopySlices)
            logits = ((q * self.scale) @ k.transpose(-2, -1)).view(-1, num_windows, heads, num_tokens, num_tokens)
            weights = (logits + mask).softmax(dim=-1).view(num_windows_total, heads, num_tokens, num_tokens)
            out = F.dropout(weights, dropout_p, training=dropout_p > 0) @ v
        else:
            per_image = (-1, num_windows, heads, num_tokens, self.head_dim)  # SDPA broadcasts the mask over batch dims
            q, k, v = (t.reshape(per_image) for t in (q, k, v))
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
            out = out.view(num_windows_total, heads, num_tokens, self.head_dim)
        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(num_windows_total, num_tokens, channels)))
        return (out, weights) if need_weights else out

    def _use_sdpa(self, x: Tensor) -> bool:
        if self.fused_attn is not None:
            return self.fused_attn
        training_on_cpu = x.device.type == "cpu" and torch.is_grad_enabled()
        return not (training_on_cpu and self.relative_position_bias_table.requires_grad)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, window_size={self.window_size}"


class SwinBlock(nn.Module):
    """x + W-MSA(norm(x)) (shifted windows when ``shifted``), then x + MLP(norm(x)), on (B, H, W, C) maps.

    ``window_size`` is the (largest) window; for a map of side L along an axis the block uses min(L, window) and
    shifts by half of it only when L exceeds it.

    Args:
        dim: token width.
        num_heads: attention heads; must divide ``dim``.
        window_size: (largest) attention window (h, w).
        shifted: shift the windows by half a window (SW-MSA) before attention.
        mlp_ratio: MLP hidden width / ``dim``.
        qkv_bias: learn a bias in the qkv projection.
        proj_drop: dropout after the attention projection and inside the MLP.
        attn_drop: dropout on the attention weights.
        drop_path: stochastic-depth probability of both residual branches.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: Window,
        shifted: bool = False,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.window_size = window_size
        self.shifted = shifted
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window_size, qkv_bias, attn_drop, proj_drop)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=proj_drop)
        self.drop_path2 = DropPath(drop_path)

    def window_and_shift(self, height: int, width: int) -> tuple[Window, Window]:
        """Window and shift used on a (height, width) map."""
        window = (min(height, self.window_size[0]), min(width, self.window_size[1]))
        if not self.shifted:
            return window, (0, 0)
        return window, (window[0] // 2 if height > window[0] else 0, window[1] // 2 if width > window[1] else 0)

    def _attention(self, x: Tensor, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        """Window attention of a normalised (B, H, W, C) map -> (B, H, W, C) and, if asked, the weights."""
        batch, height, width, channels = x.shape
        window, shift = self.window_and_shift(height, width)
        shifted = shift != (0, 0)
        if not (height % window[0] or width % window[1]):
            return self._attention_gathered(x, window, shift, need_weights)
        # 1. roll: shift the map up/left by half a window, so the next windows straddle the previous block's borders
        if shifted:
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        # 2. pad: zeros bottom/right up to a multiple of the window (after the roll, as the reference codes do)
        pad_h, pad_w = (-height) % window[0], (-width) % window[1]
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        padded_h, padded_w = height + pad_h, width + pad_w
        # 3. mask: -100 between tokens the roll brought together from different image regions (padded grid)
        mask = None
        if shifted:
            with torch.no_grad():
                mask = shifted_window_mask(padded_h, padded_w, window, shift, x.device)
        # 4. partition into (B * nW, N, C) windows and attend inside each
        out = self.attn(window_partition(x, window), window, mask, need_weights)
        out, weights = out if need_weights else (out, None)
        # 5. reverse: windows back to the padded (B, H', W', C) map
        x = window_reverse(out, window, padded_h, padded_w)
        # 6. crop the padding
        if pad_h or pad_w:
            x = x[:, :height, :width]
        # 7. roll back by the shift
        if shifted:
            x = torch.roll(x, shifts=shift, dims=(1, 2))
        if weights is not None:
            weights = weights.view(batch, -1, *weights.shape[1:])
        return x, weights

    def _attention_gathered(
        self, x: Tensor, window: Window, shift: Window, need_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        """``_attention`` on a map the windows tile: roll + partition is one token gather, reverse + roll back its
        inverse (no gather at all for unshifted windows spanning whole rows, whose order is the raster order)."""
        batch, height, width, channels = x.shape
        tokens = x.reshape(batch, height * width, channels)
        mask, order = None, None
        with torch.no_grad():
            if shift != (0, 0):
                mask = shifted_window_mask(height, width, window, shift, x.device)
            if shift != (0, 0) or window[1] != width:
                order = window_order(height, width, window, shift, x.device)
                inverse = torch.empty_like(order).index_copy_(0, order, torch.arange(order.numel(), device=x.device))
        if order is not None:
            tokens = permute_tokens(tokens, order, inverse)
        out = self.attn(tokens.view(-1, window[0] * window[1], channels), window, mask, need_weights)
        out, weights = out if need_weights else (out, None)
        out = out.view(batch, height * width, channels)
        if order is not None:
            out = permute_tokens(out, inverse, order)
        if weights is not None:
            weights = weights.view(batch, -1, *weights.shape[1:])
        return out.view(batch, height, width, channels), weights

    def forward(self, x: Tensor, need_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """(B, H, W, C) -> (B, H, W, C); with ``need_weights`` also attention (B, num_windows, heads, N, N)."""
        attended, weights = self._attention(self.norm1(x), need_weights)
        x = self.drop_path1.add_to(x, attended)
        x = self.drop_path2.add_to(x, self.mlp(self.norm2(x)))
        return (x, weights) if need_weights else x


class PatchMerging(nn.Module):
    """Concatenate each 2x2 neighbourhood (x0 = (0, 0), x1 = (1, 0), x2 = (0, 1), x3 = (1, 1) as (row, col)
    offsets) -> LayerNorm(4C) -> Linear(4C, 2C, no bias); odd maps are zero-padded bottom/right first.

    (B, H, W, C) -> (B, ceil(H / 2), ceil(W / 2), out_dim).

    Args:
        dim: input channels C.
        out_dim: output channels; None for 2C.
    """

    def __init__(self, dim: int, out_dim: int | None = None):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, out_dim or 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        batch, height, width, channels = x.shape
        if height % 2 or width % 2:
            x = F.pad(x, (0, 0, 0, width % 2, 0, height % 2))
            height, width = height + height % 2, width + width % 2
        # (B, H/2, row, W/2, col, C) -> (B, H/2, W/2, col, row, C): one copy gathers x0, x1, x2, x3 side by side
        x = x.view(batch, height // 2, 2, width // 2, 2, channels).permute(0, 1, 3, 4, 2, 5)
        return self.reduction(self.norm(x.reshape(batch, height // 2, width // 2, 4 * channels)))
