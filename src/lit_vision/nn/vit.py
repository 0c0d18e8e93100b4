"""Vision Transformer (Dosovitskiy et al., 2020, "An Image is Worth 16x16 Words"), with DeiT/CaiT extras.

Layout and parameter names follow timm's ``VisionTransformer`` (``patch_embed.proj``, ``cls_token``, ``pos_embed``,
``blocks.i.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}``, ``norm``/``fc_norm``, ``head``) so
state dicts port 1:1 (see ``lit_vision.interop.timm_vit``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_vision.nn.attention import MultiHeadAttention
from lit_vision.nn.layers import (
    DropPath,
    LayerScale,
    Mlp,
    check_divisible,
    check_heads,
    check_images,
    check_positive,
    check_rates,
    init_linear_,
    pair,
)

__all__ = [
    "PRESETS",
    "Block",
    "DropPath",
    "LayerScale",
    "Mlp",
    "PatchEmbed",
    "VisionTransformer",
    "resize_pos_embed",
    "vit_base_patch16_224",
    "vit_base_patch32_224",
    "vit_large_patch16_224",
    "vit_small_patch16_224",
    "vit_tiny_patch16_224",
]

GlobalPool = Literal["token", "avg"]


def resize_pos_embed(
    pos_embed: Tensor,
    new_grid: tuple[int, int],
    old_grid: tuple[int, int] | None = None,
    num_prefix_tokens: int = 1,
) -> Tensor:
    """Resample learned position embeddings (1, prefix + H*W, C) to a new patch grid with bicubic interpolation.

    Prefix (class token) embeddings are kept as they are. ``old_grid`` defaults to a square grid. Interpolation runs in
    float32 with anti-aliasing (matters only when shrinking), as timm's ``resample_abs_pos_embed`` does.
    """
    num_grid_tokens = pos_embed.shape[1] - num_prefix_tokens
    if old_grid is None:
        side = math.isqrt(num_grid_tokens)
        if side * side != num_grid_tokens:
            raise ValueError(
                f"pos_embed has {num_grid_tokens} grid tokens, which is not a square grid; pass old_grid=(height, width)"
            )
        old_grid = (side, side)
    if old_grid[0] * old_grid[1] != num_grid_tokens:
        raise ValueError(f"old_grid={old_grid} does not match the {num_grid_tokens} grid tokens of pos_embed")
    if tuple(old_grid) == tuple(new_grid):
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = pos_embed.shape[-1]
    grid = grid.float().reshape(1, old_grid[0], old_grid[1], dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(new_grid), mode="bicubic", align_corners=False, antialias=True)
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim).to(pos_embed.dtype)
    return torch.cat([prefix, grid], dim=1)


class PatchEmbed(nn.Module):
    """Non-overlapping patches by a strided Conv2d: (B, C, H, W) -> tokens (B, H/p * W/p, D)."""

    def __init__(
        self, img_size: int | tuple[int, int], patch_size: int | tuple[int, int], in_chans: int, embed_dim: int
    ):
        super().__init__()
        self.img_size = pair(img_size)
        self.patch_size = pair(patch_size)
        check_divisible("img_size", self.img_size, self.patch_size)
        self.grid_size = (self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1])
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x = self.proj(x)
        grid = (x.shape[-2], x.shape[-1])
        # (B, D, h, w) -> (B, h*w, D) as a view in both memory formats (the class-token concat copies it once)
        return x.flatten(2).transpose(1, 2), grid


class Block(nn.Module):
    """Pre-norm Transformer encoder block: x + attn(norm(x)), then x + mlp(norm(x)), each optionally layer-scaled."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        init_values: float | None = None,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = MultiHeadAttention(dim, num_heads, dropout=attn_drop, bias=qkv_bias, proj_drop=proj_drop)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=proj_drop)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))

    def forward_with_attention(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Same as ``forward`` through the explicit attention path; also returns weights (B, heads, N, N)."""
        attn_out, weights = self.attn(self.norm1(x), need_weights=True)
        x = x + self.drop_path1(self.ls1(attn_out))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x)))), weights


class VisionTransformer(nn.Module):
    """ViT classifier. Inputs of any size divisible by the patch size work: position embeddings are resampled
    (bicubic) from the ``img_size`` grid on the fly, and state dicts saved at another resolution are resampled on load.

    Args:
        img_size: training resolution; sets the size of the learned position-embedding grid.
        patch_size: side of the square (or (h, w)) patches.
        in_chans: input channels.
        num_classes: classifier outputs; 0 leaves ``head`` as Identity (features only).
        global_pool: "token" reads the class token, "avg" averages patch tokens (then ``fc_norm`` replaces ``norm``).
        class_token: prepend a learned class token.
        embed_dim: token width.
        depth: number of Transformer blocks.
        num_heads: attention heads per block; must divide ``embed_dim``.
        mlp_ratio: MLP hidden width / token width.
        qkv_bias: learn a bias in the qkv projection.
        init_values: LayerScale init (None disables LayerScale).
        norm_eps: LayerNorm epsilon (1e-6 as in the official ViT/DeiT code).
        drop_rate: dropout before the head.
        pos_drop_rate: dropout after adding the position embeddings.
        proj_drop_rate: dropout after the attention projection and inside the MLP.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 over depth.
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int | tuple[int, int] = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: GlobalPool = "token",
        class_token: bool = True,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        init_values: float | None = None,
        norm_eps: float = 1e-6,
        drop_rate: float = 0.0,
        pos_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        if global_pool not in ("token", "avg"):
            raise ValueError(f"global_pool={global_pool!r} is not supported; use 'token' or 'avg'")
        if global_pool == "token" and not class_token:
            raise ValueError("global_pool='token' needs class_token=True; set class_token=True or global_pool='avg'")
        check_positive(in_chans=in_chans, embed_dim=embed_dim, depth=depth, num_heads=num_heads)
        if num_classes < 0:
            raise ValueError(f"num_classes={num_classes} must be >= 0 (0 gives features without a head)")
        check_heads(num_heads, embed_dim)
        if mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio={mlp_ratio} must be > 0")
        check_rates(
            drop_rate=drop_rate,
            pos_drop_rate=pos_drop_rate,
            proj_drop_rate=proj_drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
        )

        self.num_classes = num_classes
        self.in_chans = in_chans
        self.global_pool = global_pool
        self.embed_dim = self.num_features = embed_dim
        self.num_prefix_tokens = 1 if class_token else 0

        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_prefix_tokens + self.patch_embed.num_patches, embed_dim))
        self.pos_drop = nn.Dropout(pos_drop_rate)

        drop_path_rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.Sequential(
            *[
                Block(
                    embed_dim,
                    num_heads,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    proj_drop=proj_drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=rate,
                    init_values=init_values,
                    norm_eps=norm_eps,
                )
                for rate in drop_path_rates
            ]
        )
        use_fc_norm = global_pool == "avg"
        self.norm = nn.Identity() if use_fc_norm else nn.LayerNorm(embed_dim, eps=norm_eps)
        self.fc_norm = nn.LayerNorm(embed_dim, eps=norm_eps) if use_fc_norm else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()

        self.register_load_state_dict_pre_hook(self._resize_pos_embed_on_load)
        self.init_weights()

    def init_weights(self) -> None:
        """timm/DeiT init: truncated normal (std 0.02) for Linear weights and position embeddings, zero biases."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        init_linear_(self)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}

    @property
    def img_size(self) -> tuple[int, int]:
        return self.patch_embed.img_size

    @property
    def patch_size(self) -> tuple[int, int]:
        return self.patch_embed.patch_size

    def _check_input(self, x: Tensor) -> None:
        check_images(x, self.in_chans)
        check_divisible("input size", (x.shape[-2], x.shape[-1]), self.patch_size)

    def _resize_pos_embed_on_load(self, module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        """Resample a checkpoint's position embeddings saved at another resolution to this model's grid."""
        key = prefix + "pos_embed"
        if key in state_dict and state_dict[key].shape[1] != self.pos_embed.shape[1]:
            state_dict[key] = resize_pos_embed(
                state_dict[key], self.patch_embed.grid_size, num_prefix_tokens=self.num_prefix_tokens
            )

    def _embed(self, x: Tensor) -> Tensor:
        self._check_input(x)
        x, grid = self.patch_embed(x)
        pos_embed = self.pos_embed
        if grid != self.patch_embed.grid_size:
            pos_embed = resize_pos_embed(pos_embed, grid, self.patch_embed.grid_size, self.num_prefix_tokens)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.pos_drop(x + pos_embed)

    def forward_features(self, x: Tensor) -> Tensor:
        """Images (B, C, H, W) -> normalised tokens (B, prefix + H/p * W/p, D)."""
        return self.norm(self.blocks(self._embed(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Tokens -> pooled features (``pre_logits``) or logits."""
        x = x[:, 0] if self.global_pool == "token" else x[:, self.num_prefix_tokens :].mean(dim=1)
        x = self.head_drop(self.fc_norm(x))
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_attention_maps(self, x: Tensor) -> list[Tensor]:
        """Attention weights of every block, each (B, heads, N, N) with N = prefix + patches (explicit path)."""
        x = self._embed(x)
        maps = []
        for block in self.blocks:
            x, weights = block.forward_with_attention(x)
            maps.append(weights)
        return maps


def _vit(defaults: dict[str, Any], kwargs: dict[str, Any]) -> VisionTransformer:
    return VisionTransformer(**{**defaults, **kwargs})


def vit_tiny_patch16_224(**kwargs: Any) -> VisionTransformer:
    """ViT-Ti/16 (DeiT-Ti): 5.7M parameters."""
    return _vit(dict(patch_size=16, embed_dim=192, depth=12, num_heads=3), kwargs)


def vit_small_patch16_224(**kwargs: Any) -> VisionTransformer:
    """ViT-S/16 (DeiT-S): 22.1M parameters."""
    return _vit(dict(patch_size=16, embed_dim=384, depth=12, num_heads=6), kwargs)


def vit_base_patch16_224(**kwargs: Any) -> VisionTransformer:
    """ViT-B/16: 86.6M parameters."""
    return _vit(dict(patch_size=16, embed_dim=768, depth=12, num_heads=12), kwargs)


def vit_base_patch32_224(**kwargs: Any) -> VisionTransformer:
    """ViT-B/32: 88.2M parameters."""
    return _vit(dict(patch_size=32, embed_dim=768, depth=12, num_heads=12), kwargs)


def vit_large_patch16_224(**kwargs: Any) -> VisionTransformer:
    """ViT-L/16: 304.3M parameters."""
    return _vit(dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16), kwargs)


PRESETS: dict[str, Callable[..., VisionTransformer]] = {
    "vit_tiny_patch16_224": vit_tiny_patch16_224,
    "vit_small_patch16_224": vit_small_patch16_224,
    "vit_base_patch16_224": vit_base_patch16_224,
    "vit_base_patch32_224": vit_base_patch32_224,
    "vit_large_patch16_224": vit_large_patch16_224,
}
