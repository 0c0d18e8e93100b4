"""Weight conversion between timm's ``VisionTransformer`` and ``lit_vision.nn.vit.VisionTransformer``.

Both use the same parameter names, so conversion is: read the architecture off the source module, build the twin,
load the state dict strictly. timm features this project's ViT does not have (register tokens, pre-norm, attention
pooling, qk-norm, non-GELU MLPs, ...) raise a ValueError naming them instead of silently dropping weights.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from lit_vision.nn.vit import VisionTransformer

__all__ = ["from_timm", "timm_vit_config", "to_timm"]


def _unsupported_timm_features(timm_vit: nn.Module) -> list[str]:
    block = timm_vit.blocks[0]
    checks = {
        "reg_tokens > 0": getattr(timm_vit, "reg_token", None) is not None,
        "no_embed_class=True": getattr(timm_vit, "no_embed_class", False),
        "pos_embed='none'": getattr(timm_vit, "pos_embed", None) is None,
        "pre_norm=True": not isinstance(getattr(timm_vit, "norm_pre", nn.Identity()), nn.Identity),
        f"global_pool={timm_vit.global_pool!r} (only 'token'/'avg')": timm_vit.global_pool not in ("token", "avg"),
        "attention pooling": getattr(timm_vit, "attn_pool", None) is not None,
        "patch_drop_rate > 0": not isinstance(getattr(timm_vit, "patch_drop", nn.Identity()), nn.Identity),
        "dynamic_img_pad=True": getattr(timm_vit.patch_embed, "dynamic_img_pad", False),
        "patch-embed norm": not isinstance(getattr(timm_vit.patch_embed, "norm", nn.Identity()), nn.Identity),
        "qk_norm=True": not isinstance(getattr(block.attn, "q_norm", nn.Identity()), nn.Identity),
        "gated attention": getattr(block.attn, "gate", None) is not None,
        "a non-default attention or block class": type(block.attn).__name__ != "Attention"
        or type(block).__name__ != "Block",
        "an MLP other than Linear-GELU-Linear": type(block.mlp).__name__ != "Mlp"
        or not (isinstance(block.mlp.act, nn.GELU) and block.mlp.act.approximate == "none"),
    }
    return [name for name, present in checks.items() if present]


def timm_vit_config(timm_vit: nn.Module) -> dict[str, Any]:
    """Constructor arguments of ``lit_vision.nn.vit.VisionTransformer`` read off a timm ViT module."""
    unsupported = _unsupported_timm_features(timm_vit)
    if unsupported:
        raise ValueError(f"timm ViT uses features lit_vision's ViT does not implement: {', '.join(unsupported)}")
    if timm_vit.patch_embed.img_size is None:
        raise ValueError("timm ViT was built with img_size=None; build it with a fixed img_size to convert it")
    block = timm_vit.blocks[0]
    last = timm_vit.blocks[-1]
    embed_dim = timm_vit.embed_dim
    head = timm_vit.head
    return dict(
        img_size=tuple(timm_vit.patch_embed.img_size),
        patch_size=tuple(timm_vit.patch_embed.patch_size),
        in_chans=timm_vit.patch_embed.proj.in_channels,
        num_classes=head.out_features if isinstance(head, nn.Linear) else 0,
        global_pool=timm_vit.global_pool,
        class_token=timm_vit.cls_token is not None,
        embed_dim=embed_dim,
        depth=len(timm_vit.blocks),
        num_heads=block.attn.num_heads,
        mlp_ratio=block.mlp.fc1.out_features / embed_dim,
        qkv_bias=block.attn.qkv.bias is not None,
        init_values=getattr(block.ls1, "init_values", None),
        norm_eps=block.norm1.eps,
        drop_rate=timm_vit.head_drop.p,
        pos_drop_rate=timm_vit.pos_drop.p,
        proj_drop_rate=block.attn.proj_drop.p,
        attn_drop_rate=block.attn.attn_drop.p,
        # timm spaces the rates with float32 linspace: round off the float32 noise
        drop_path_rate=round(float(getattr(last.drop_path1, "drop_prob", 0.0)), 6),
    )


def _load_strict(target: nn.Module, source: nn.Module, what: str) -> None:
    source_state = source.state_dict()
    target_state = target.state_dict()
    missing = sorted(set(target_state) - set(source_state))
    unexpected = sorted(set(source_state) - set(target_state))
    mismatched = [k for k in target_state if k in source_state and target_state[k].shape != source_state[k].shape]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"cannot convert {what}: missing {missing[:5]}, unexpected {unexpected[:5]}, shape mismatch {mismatched[:5]}"
        )
    target.load_state_dict(source_state)


def from_timm(timm_vit: nn.Module) -> VisionTransformer:
    """Build a ``lit_vision`` ViT with the architecture and weights of a timm ``VisionTransformer``."""
    if type(timm_vit).__name__ != "VisionTransformer":
        raise ValueError(f"from_timm expects a timm VisionTransformer, got {type(timm_vit).__name__}")
    model = VisionTransformer(**timm_vit_config(timm_vit))
    param = next(timm_vit.parameters())
    model.to(device=param.device, dtype=param.dtype)
    _load_strict(model, timm_vit, "timm ViT")
    return model.train(timm_vit.training)


def to_timm(model: VisionTransformer, **timm_kwargs: Any) -> nn.Module:
    """Build a timm ``VisionTransformer`` with the architecture and weights of ``model``.

    ``timm_kwargs`` go to timm's constructor (e.g. ``dynamic_img_size=True`` to run it at other resolutions).
    """
    from timm.layers import LayerNorm as TimmLayerNorm
    from timm.models.vision_transformer import VisionTransformer as TimmVisionTransformer

    if not isinstance(model, VisionTransformer):
        raise ValueError(f"to_timm expects lit_vision.nn.vit.VisionTransformer, got {type(model).__name__}")
    block = model.blocks[0]
    last = model.blocks[-1]
    kwargs = dict(
        img_size=model.img_size,
        patch_size=model.patch_size,
        in_chans=model.in_chans,
        num_classes=model.num_classes,
        global_pool=model.global_pool,
        class_token=model.cls_token is not None,
        embed_dim=model.embed_dim,
        depth=len(model.blocks),
        num_heads=block.attn.num_heads,
        mlp_ratio=block.mlp.fc1.out_features / model.embed_dim,
        qkv_bias=block.attn.qkv.bias is not None,
        init_values=getattr(block.ls1, "init_values", None),
        norm_layer=functools.partial(TimmLayerNorm, eps=block.norm1.eps),
        drop_rate=model.head_drop.p,
        pos_drop_rate=model.pos_drop.p,
        proj_drop_rate=block.mlp.drop1.p,
        attn_drop_rate=block.attn.attn_drop_p,
        drop_path_rate=float(getattr(last.drop_path1, "drop_prob", 0.0)),
        weight_init="skip",
    )
    kwargs.update(timm_kwargs)
    param = next(model.parameters())
    with torch.device(param.device):
        timm_vit = TimmVisionTransformer(**kwargs).to(dtype=param.dtype)
    _load_strict(timm_vit, model, "lit_vision ViT")
    return timm_vit.train(model.training)
