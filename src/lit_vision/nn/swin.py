"""Swin Transformer (Liu et al., 2021, "Hierarchical Vision Transformer using Shifted Windows").

Patch embedding (conv, kernel = stride = patch, then LayerNorm) -> stages of [PatchMerging (all but the first stage) ->
blocks alternating W-MSA and SW-MSA (windows cyclically shifted by half a window)] -> LayerNorm -> average pool -> head.
Window attention adds a learned relative-position bias ((2M-1)^2 entries per head) and, in shifted blocks, a -100 mask
between tokens that the cyclic shift brought together from distant image regions. The layers (window ops, attention,
block, merging) live in ``lit_vision.nn.swin_layers`` and are re-exported here.

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

Speed: on a map its windows tile, a block moves its tokens into (shifted) window order with one gather of precomputed
indices and back with its inverse, instead of roll + partition and reverse + roll back (``benchmarks/swin_profile.py``
shows where a train step spends its time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn

from lit_vision.nn.layers import check_heads, check_images, check_positive, check_rates, init_linear_, pair
from lit_vision.nn.swin_layers import (
    MASK_VALUE,
    PatchEmbed,
    PatchMerging,
    SwinBlock,
    WindowAttention,
    relative_position_index,
    shifted_window_mask,
    window_order,
    window_partition,
    window_reverse,
)

__all__ = [
    "MASK_VALUE",
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


class SwinStage(nn.Module):
    """Optional PatchMerging, then ``depth`` blocks alternating regular and shifted windows.

    Args:
        dim: input channels.
        out_dim: channels of the blocks (after merging).
        depth: number of blocks.
        num_heads: attention heads of every block.
        window_size: (largest) attention window (h, w).
        downsample: start with a PatchMerging (2x2 neighbourhoods -> one token of ``out_dim`` channels).
        mlp_ratio: MLP hidden width / ``out_dim``.
        qkv_bias: learn a bias in the qkv projections.
        proj_drop: dropout after the attention projections and inside the MLPs.
        attn_drop: dropout on the attention weights.
        drop_path: stochastic-depth probability of each block (empty: none).
    """

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

    def forward(self, x: Tensor) -> Tensor:
        """(B, H, W, C_in) -> (B, H', W', C_out)."""
        return self.blocks(self.downsample(x))


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
