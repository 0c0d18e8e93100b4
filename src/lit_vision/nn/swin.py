"""Swin Transformer (Liu et al., 2021, "Hierarchical Vision Transformer using Shifted Windows").

Patch embedding (conv, kernel = stride = patch, then LayerNorm) -> stages of [PatchMerging (all but the first stage) ->
blocks alternating W-MSA and SW-MSA (windows cyclically shifted by half a window)] -> LayerNorm -> average pool -> head.
Window attention adds a learned relative-position bias ((2M-1)^2 entries per head) and, in shifted blocks, a -100 mask
between tokens that the cyclic shift brought together from distant image regions.

Tensors between stages are channels-last (B, H, W, C); ``forward_features`` returns that NHWC map, as timm 1.x does.
Parameter names follow timm's ``SwinTransformer`` (``patch_embed.proj``, ``layers.i.downsample.reduction``,
``layers.i.blocks.j.attn.relative_position_bias_table``, ...; the classifier is ``head`` instead of ``head.fc``) so
state dicts port with one rename (see ``lit_vision.interop.timm_swin``).

Any input size works:
- the image is padded (bottom/right, zeros) to a multiple of the patch size, and each stage's map to an even size
  before merging;
- a block whose map is not a multiple of its window pads the (already shifted) map bottom/right, like timm: the shift
  mask is laid out on the padded grid and padded tokens are zeros that stay unmasked, as in the reference codes;
- a block whose map is no larger than its window uses one window of the map's size (indexing the centre of its bias
  table) and no shift.
``img_size`` only fixes the windows at construction, exactly as timm does: a stage whose ``img_size`` resolution is
smaller than ``window_size`` gets a window (and bias table) of that resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_vision.nn.layers import (
    DropPath,
    Mlp,
    check_heads,
    check_images,
    check_positive,
    check_rates,
    init_linear_,
    pair,
)

__all__ = [
    "PRESETS",
    "PatchEmbed",
    "PatchMerging",
    "SwinBlock",
    "SwinStage",
    "SwinTransformer",
    "WindowAttention",
    "relative_position_index",
    "shifted_window_mask",
    "swin_b",
    "swin_base_patch4_window7_224",
    "swin_digits",
    "swin_s",
    "swin_small_patch4_window7_224",
    "swin_t",
    "swin_tiny_patch4_window7_224",
    "window_order",
    "window_partition",
    "window_reverse",
]

MASK_VALUE = -100.0  # added to logits of token pairs the cyclic shift made neighbours (reference value)


def window_partition(x: Tensor, window: tuple[int, int]) -> Tensor:
    """(B, H, W, C) -> (B * num_windows, window_h * window_w, C), windows in row-major order; H, W multiples of window."""
    batch, height, width, channels = x.shape
    win_h, win_w = window
    x = x.view(batch, height // win_h, win_h, width // win_w, win_w, channels).transpose(2, 3)
    return x.reshape(-1, win_h * win_w, channels)


def window_reverse(windows: Tensor, window: tuple[int, int], height: int, width: int) -> Tensor:
    """Inverse of ``window_partition``: (B * num_windows, window_h * window_w, C) -> (B, H, W, C)."""
    win_h, win_w = window
    channels = windows.shape[-1]
    x = windows.view(-1, height // win_h, width // win_w, win_h, win_w, channels).transpose(2, 3)
    return x.reshape(-1, height, width, channels)


def relative_position_index(window: tuple[int, int], table_window: tuple[int, int] | None = None) -> Tensor:
    """(N, N) long index of each (query, key) pair of a window into a (2*Th - 1) * (2*Tw - 1) bias table, N = wh * ww.

    The table is laid out for ``table_window`` (default: ``window``); a smaller window reads the table's centre, i.e.
    the same relative offsets.
    """
    table_h, table_w = table_window or window
    coords = torch.stack(torch.meshgrid(torch.arange(window[0]), torch.arange(window[1]), indexing="ij")).flatten(1)
    offsets = coords[:, :, None] - coords[:, None, :]  # (2, N, N): query position - key position
    return (offsets[0] + table_h - 1) * (2 * table_w - 1) + offsets[1] + table_w - 1


def _shift_regions(length: int, window: int, shift: int) -> Tensor:
    """Region id (0, 1, 2) of each position along one padded axis after a cyclic shift: rows from the image interior,
    the last window's own rows, and the rows that wrapped around."""
    positions = torch.arange(length)
    if shift == 0:
        return torch.zeros_like(positions)
    return (positions >= length - window).long() + (positions >= length - shift).long()


def shifted_window_mask(
    height: int, width: int, window: tuple[int, int], shift: tuple[int, int], device: torch.device | str | None = None
) -> Tensor:
    """Float (num_windows, N, N) mask for SW-MSA on a (height, width) map (multiples of ``window``): 0 where two tokens
    come from the same image region, -100 where the cyclic shift put distant regions into one window."""
    regions = _shift_regions(height, window[0], shift[0])[:, None] * 3 + _shift_regions(width, window[1], shift[1])
    regions = window_partition(regions[None, :, :, None], window).squeeze(-1)  # (num_windows, N)
    different = regions[:, :, None] != regions[:, None, :]
    return torch.zeros(different.shape, device=device).masked_fill_(different.to(device), MASK_VALUE)


def window_order(height: int, width: int, window: tuple[int, int], shift: tuple[int, int]) -> Tensor:
    """Raster index (h * width + w) of each token of a (height, width) map (multiples of ``window``) after a cyclic
    shift by ``-shift`` and window partition, in the order ``window_partition`` lays them out."""
    raster = torch.arange(height * width).view(1, height, width, 1)
    if shift != (0, 0):
        raster = torch.roll(raster, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    return window_partition(raster, window).flatten()


class _PermuteTokens(torch.autograd.Function):
    """x[:, index] for a permutation ``index`` of the token axis of (B, L, C); the gradient is the inverse gather."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, index: Tensor, inverse: Tensor) -> Tensor:
        ctx.save_for_backward(inverse)
        return x.index_select(1, index)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (inverse,) = ctx.saved_tensors
        return grad.index_select(1, inverse), None, None


class PatchEmbed(nn.Module):
    """Conv patch embedding (kernel = stride = patch) + LayerNorm; pads images to a multiple of the patch size.

    (B, C, H, W) -> (B, ceil(H / p), ceil(W / p), D), channels-last.
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

    The bias (and the shift mask, when given) is folded into ``attn_mask`` of ``F.scaled_dot_product_attention``; the
    explicit softmax path runs when attention weights are requested. ``fused_attn`` picks the path otherwise: True
    always SDPA, False always explicit, None (default) SDPA except while training on CPU, where SDPA's fused kernel
    cannot return the bias gradient and its math fallback is slower than the explicit path.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: tuple[int, int],
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
        self._index_cache: dict[tuple[Any, ...], Tensor] = {}
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def _index(self, window: tuple[int, int]) -> Tensor:
        if window == self.window_size:
            return self.relative_position_index
        device = self.relative_position_index.device
        key = (window, device)
        if key not in self._index_cache:  # a normal tensor even when first built under inference_mode
            with torch.inference_mode(False):
                self._index_cache[key] = relative_position_index(window, self.window_size).to(device)
        return self._index_cache[key]

    def relative_position_bias(self, window: tuple[int, int] | None = None) -> Tensor:
        """(heads, N, N) bias for a window of size ``window`` (default and at most: ``window_size``)."""
        window = window or self.window_size
        num_tokens = window[0] * window[1]
        bias = self.relative_position_bias_table[self._index(window).view(-1)]
        return bias.view(num_tokens, num_tokens, self.num_heads).permute(2, 0, 1)

    def forward(
        self,
        x: Tensor,
        window: tuple[int, int] | None = None,
        shift_mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Windows (B * num_windows, N, C) -> (B * num_windows, N, C); with ``need_weights`` also the softmax
        weights (B * num_windows, heads, N, N). ``shift_mask`` is (num_windows, N, N) or None."""
        num_windows_total, num_tokens, channels = x.shape
        heads = self.num_heads
        qkv = self.qkv(x).view(num_windows_total, num_tokens, 3, heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        mask = self.relative_position_bias(window).unsqueeze(0)  # (1, heads, N, N)
        if shift_mask is not None:
            num_windows = shift_mask.shape[0]
            mask = mask + shift_mask.unsqueeze(1)  # (num_windows, heads, N, N)
            mask = mask.expand(num_windows_total // num_windows, -1, -1, -1, -1).reshape(
                -1, heads, num_tokens, num_tokens
            )
        mask = mask.to(q.dtype)
        dropout_p = self.attn_drop_p if self.training else 0.0
        weights = None
        if need_weights or not self._use_sdpa(x):
            logits = (q * self.scale) @ k.transpose(-2, -1) + mask
            weights = logits.softmax(dim=-1)
            out = F.dropout(weights, dropout_p, training=dropout_p > 0) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
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
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: tuple[int, int],
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
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=proj_drop)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self._mask_cache: dict[tuple[Any, ...], Tensor] = {}

    def window_and_shift(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Window and shift used on a (height, width) map."""
        window = (min(height, self.window_size[0]), min(width, self.window_size[1]))
        if not self.shifted:
            return window, (0, 0)
        return window, (window[0] // 2 if height > window[0] else 0, window[1] // 2 if width > window[1] else 0)

    def shift_mask(self, height: int, width: int, window: tuple[int, int], shift: tuple[int, int], device) -> Tensor:
        key = (height, width, window, shift, device)
        if key not in self._mask_cache:
            with torch.inference_mode(False), torch.no_grad():
                self._mask_cache[key] = shifted_window_mask(height, width, window, shift, device)
        return self._mask_cache[key]

    def _attention(self, x: Tensor, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        batch, height, width, channels = x.shape
        window, shift = self.window_and_shift(height, width)
        shifted = shift != (0, 0)
        if shifted:
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        pad_h, pad_w = (-height) % window[0], (-width) % window[1]
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        padded_h, padded_w = height + pad_h, width + pad_w
        mask = self.shift_mask(padded_h, padded_w, window, shift, x.device) if shifted else None
        out = self.attn(window_partition(x, window), window, mask, need_weights)
        out, weights = out if need_weights else (out, None)
        x = window_reverse(out, window, padded_h, padded_w)
        if pad_h or pad_w:
            x = x[:, :height, :width]
        if shifted:
            x = torch.roll(x, shifts=shift, dims=(1, 2))
        if weights is not None:
            weights = weights.view(batch, -1, *weights.shape[1:])
        return x, weights

    def forward(self, x: Tensor, need_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """(B, H, W, C) -> (B, H, W, C); with ``need_weights`` also attention (B, num_windows, heads, N, N)."""
        attended, weights = self._attention(self.norm1(x), need_weights)
        x = x + self.drop_path1(attended)
        x = x + self.drop_path2(self.mlp(self.norm2(x)))
        return (x, weights) if need_weights else x

    def forward_windowed(self, x: Tensor, window: tuple[int, int], shift_mask: Tensor | None) -> Tensor:
        """Same block on tokens (B, L, C) already in this block's (shifted) window order, no padding needed."""
        batch, length, channels = x.shape
        attended = self.attn(self.norm1(x).view(-1, window[0] * window[1], channels), window, shift_mask)
        x = x + self.drop_path1(attended.view(batch, length, channels))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Concatenate each 2x2 neighbourhood (x0 = (0, 0), x1 = (1, 0), x2 = (0, 1), x3 = (1, 1) as (row, col)
    offsets) -> LayerNorm(4C) -> Linear(4C, 2C, no bias); odd maps are zero-padded bottom/right first.

    (B, H, W, C) -> (B, ceil(H / 2), ceil(W / 2), out_dim).
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
        x = x.view(batch, height // 2, 2, width // 2, 2, channels).permute(0, 1, 3, 4, 2, 5)
        return self.reduction(self.norm(x.reshape(batch, height // 2, width // 2, 4 * channels)))


class SwinStage(nn.Module):
    """Optional PatchMerging, then ``depth`` blocks alternating regular and shifted windows."""

    def __init__(
        self,
        dim: int,
        out_dim: int,
        depth: int,
        num_heads: int,
        window_size: tuple[int, int],
        downsample: bool,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: Sequence[float] = (),
    ):
        super().__init__()
        self.downsample = PatchMerging(dim, out_dim) if downsample else nn.Identity()
        drop_path = list(drop_path) or [0.0] * depth
        self.blocks = nn.Sequential(
            *[
                SwinBlock(
                    out_dim,
                    num_heads,
                    window_size,
                    shifted=i % 2 == 1,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    proj_drop=proj_drop,
                    attn_drop=attn_drop,
                    drop_path=drop_path[i],
                )
                for i in range(depth)
            ]
        )
        self._reorder_cache: dict[tuple[Any, ...], tuple[Tensor, Tensor] | None] = {}

    def forward(self, x: Tensor) -> Tensor:
        """(B, H, W, C_in) -> (B, H', W', C_out).

        When every block's windows tile the map, tokens stay in window order between blocks: moving from one block's
        windows to the next block's (shifted) windows is a single gather instead of window reverse + two rolls +
        window partition. Otherwise each block rolls, pads and partitions its (B, H, W, C) input itself.
        """
        x = self.downsample(x)
        batch, height, width, channels = x.shape
        plans = [block.window_and_shift(height, width) for block in self.blocks]
        if any(height % window[0] or width % window[1] for window, _ in plans):
            return self.blocks(x)
        x = x.reshape(batch, height * width, channels)
        order = None  # raster order
        for block, (window, shift) in zip(self.blocks, plans):
            x = self._reorder(x, height, width, order, (window, shift))
            order = (window, shift)
            mask = block.shift_mask(height, width, window, shift, x.device) if shift != (0, 0) else None
            x = block.forward_windowed(x, window, mask)
        x = self._reorder(x, height, width, order, None)
        return x.view(batch, height, width, channels)

    def _reorder(self, x: Tensor, height: int, width: int, source: Any, target: Any) -> Tensor:
        """Move tokens (B, L, C) from the window order ``source`` to ``target`` ((window, shift) or None: raster)."""
        if source == target:
            return x
        key = (height, width, source, target, x.device)
        if key not in self._reorder_cache:
            with torch.inference_mode(False), torch.no_grad():
                identity = torch.arange(height * width)
                source_order = identity if source is None else window_order(height, width, *source)
                target_order = identity if target is None else window_order(height, width, *target)
                index = torch.empty_like(source_order)
                index[source_order] = identity  # position of each raster token in the source order
                index = index[target_order]
                inverse = torch.empty_like(index)
                inverse[index] = identity
                self._reorder_cache[key] = (
                    None if torch.equal(index, identity) else (index.to(x.device), inverse.to(x.device))
                )
        indices = self._reorder_cache[key]
        return x if indices is None else _PermuteTokens.apply(x, *indices)


class SwinTransformer(nn.Module):
    """Swin Transformer classifier.

    Args:
        img_size: design resolution; fixes each stage's window (shrunk to the stage's resolution where that is smaller
            than ``window_size``, as timm does). Other input sizes still run (padding, see the module docstring).
        patch_size: side of the square patches of the embedding conv.
        in_chans: input channels.
        num_classes: classifier outputs; 0 leaves ``head`` as Identity (pooled features).
        embed_dim: width of the first stage; stage i has embed_dim * 2**i channels.
        depths: blocks per stage (pairs of W-MSA / SW-MSA blocks in the paper).
        num_heads: attention heads per stage; each must divide its stage's width.
        window_size: side M of the attention windows (M * M tokens per window).
        mlp_ratio: MLP hidden width / block width.
        qkv_bias: learn a bias in the qkv projection.
        drop_rate: dropout before the head.
        proj_drop_rate: dropout after the attention projection and inside the MLP.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 over all blocks.
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
    ):
        super().__init__()
        depths, num_heads = tuple(int(d) for d in depths), tuple(int(h) for h in num_heads)
        img_size = pair(img_size)
        self._validate(
            img_size, patch_size, in_chans, num_classes, embed_dim, depths, num_heads, window_size, mlp_ratio
        )
        check_rates(
            drop_rate=drop_rate,
            proj_drop_rate=proj_drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
        )

        self.img_size = img_size
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.depths = depths
        self.num_heads = num_heads
        self.window_size = window_size
        self.num_layers = len(depths)
        self.num_features = embed_dim * 2 ** (self.num_layers - 1)

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.window_sizes = self.stage_windows(img_size, patch_size, window_size, self.num_layers)
        total_depth = sum(depths)
        drop_path_rates = [drop_path_rate * i / max(total_depth - 1, 1) for i in range(total_depth)]
        stages, first_block = [], 0
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            stages.append(
                SwinStage(
                    dim=embed_dim * 2 ** max(i - 1, 0),
                    out_dim=embed_dim * 2**i,
                    depth=depth,
                    num_heads=heads,
                    window_size=self.window_sizes[i],
                    downsample=i > 0,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    proj_drop=proj_drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=drop_path_rates[first_block : first_block + depth],
                )
            )
            first_block += depth
        self.layers = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(self.num_features)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.init_weights()

    @staticmethod
    def _validate(
        img_size: tuple[int, int],
        patch_size: int,
        in_chans: int,
        num_classes: int,
        embed_dim: int,
        depths: tuple[int, ...],
        num_heads: tuple[int, ...],
        window_size: int,
        mlp_ratio: float,
    ) -> None:
        check_positive(
            patch_size=patch_size,
            in_chans=in_chans,
            embed_dim=embed_dim,
            window_size=window_size,
            img_size=min(img_size),
        )
        if num_classes < 0:
            raise ValueError(f"num_classes={num_classes} must be >= 0 (0 gives pooled features without a head)")
        if mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio={mlp_ratio} must be > 0")
        if not depths or min(depths) < 1:
            raise ValueError(
                f"depths={list(depths)} must be a non-empty list of positive block counts, e.g. [2, 2, 6, 2]"
            )
        if len(num_heads) != len(depths):
            raise ValueError(
                f"num_heads={list(num_heads)} needs one entry per stage like depths={list(depths)}; "
                f"give {len(depths)} head counts"
            )
        for i, heads in enumerate(num_heads):
            width = embed_dim * 2**i
            check_heads(heads, width, f"num_heads[{i}]", f"stage {i}'s width {width} (embed_dim={embed_dim} * 2**{i})")

    @staticmethod
    def stage_resolutions(img_size: int | tuple[int, int], patch_size: int, num_stages: int) -> list[tuple[int, int]]:
        """(H, W) token map of each stage for an image of ``img_size`` (with patch and merge padding)."""
        height, width = pair(img_size)
        size = (-(-height // patch_size), -(-width // patch_size))
        resolutions = [size]
        for _ in range(num_stages - 1):
            size = (-(-size[0] // 2), -(-size[1] // 2))
            resolutions.append(size)
        return resolutions

    @classmethod
    def stage_windows(
        cls, img_size: int | tuple[int, int], patch_size: int, window_size: int, num_stages: int
    ) -> list[tuple[int, int]]:
        """Window of each stage: ``window_size``, shrunk to the stage's resolution where that is smaller."""
        return [
            (min(h, window_size), min(w, window_size))
            for h, w in cls.stage_resolutions(img_size, patch_size, num_stages)
        ]

    def init_weights(self) -> None:
        """timm/official init: truncated normal (std 0.02) for Linear weights and bias tables, zero biases."""
        init_linear_(self)

    def no_weight_decay(self) -> set[str]:
        return {name for name, _ in self.named_parameters() if "relative_position_bias_table" in name}

    def forward_features(self, x: Tensor) -> Tensor:
        """Images (B, C, H, W) -> normalised feature map (B, H', W', num_features), channels-last (NHWC) as in timm."""
        check_images(x, self.in_chans)
        return self.norm(self.layers(self.patch_embed(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """NHWC feature map -> pooled features (``pre_logits``) or logits."""
        x = self.head_drop(x.mean(dim=(1, 2)))
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_attention_maps(self, x: Tensor) -> list[Tensor]:
        """Per-window attention of every block (explicit softmax path), in order; each (B, num_windows, heads, N, N)
        with N = window_h * window_w and windows in row-major order over the block's (shifted, padded) map."""
        check_images(x, self.in_chans)
        x = self.patch_embed(x)
        maps = []
        for stage in self.layers:
            x = stage.downsample(x)
            for block in stage.blocks:
                x, weights = block(x, need_weights=True)
                maps.append(weights)
        return maps


def _swin(defaults: dict[str, Any], kwargs: dict[str, Any]) -> SwinTransformer:
    return SwinTransformer(**{**defaults, **kwargs})


def swin_tiny_patch4_window7_224(**kwargs: Any) -> SwinTransformer:
    """Swin-T: 28.3M parameters, 4.5 GMACs at 224; paper drop path 0.2."""
    return _swin(dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.2), kwargs)


def swin_small_patch4_window7_224(**kwargs: Any) -> SwinTransformer:
    """Swin-S: 49.6M parameters, 8.7 GMACs at 224; paper drop path 0.3."""
    return _swin(dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.3), kwargs)


def swin_base_patch4_window7_224(**kwargs: Any) -> SwinTransformer:
    """Swin-B: 87.8M parameters, 15.4 GMACs at 224; paper drop path 0.5."""
    return _swin(dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), drop_path_rate=0.5), kwargs)


swin_t = swin_tiny_patch4_window7_224
swin_s = swin_small_patch4_window7_224
swin_b = swin_base_patch4_window7_224


def swin_digits(**kwargs: Any) -> SwinTransformer:
    """Small-image Swin for 8x8 digits / 32x32 CIFAR: patch 1, window 4, embed 48, two stages (8x8 -> 4x4 tokens)."""
    defaults = dict(
        img_size=8,
        patch_size=1,
        in_chans=1,
        num_classes=10,
        embed_dim=48,
        depths=(2, 2),
        num_heads=(3, 6),
        window_size=4,
        drop_path_rate=0.1,
    )
    return _swin(defaults, kwargs)


PRESETS: dict[str, Callable[..., SwinTransformer]] = {
    "swin_tiny_patch4_window7_224": swin_tiny_patch4_window7_224,
    "swin_small_patch4_window7_224": swin_small_patch4_window7_224,
    "swin_base_patch4_window7_224": swin_base_patch4_window7_224,
    "swin_t": swin_t,
    "swin_s": swin_s,
    "swin_b": swin_b,
    "swin_digits": swin_digits,
}
