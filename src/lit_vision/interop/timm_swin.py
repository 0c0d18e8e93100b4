"""SwinTransformer <-> timm SwinTransformer weight conversion.

Parameter names are the same except the classifier (ours ``head``, timm's ``head.fc``). Both models fix each stage's
window from the construction ``img_size`` (shrunk where a stage is smaller than the window), so the converted model is
built with the same ``img_size`` and bias tables have the same shapes.
"""

from __future__ import annotations

import timm.models.swin_transformer as timm_swin
from torch import nn

from lit_vision.interop.timm import load_state_dict_strict
from lit_vision.nn.swin import SwinTransformer


def _ours_to_timm_key(key: str) -> str:
    return "head.fc." + key.removeprefix("head.") if key.startswith("head.") else key


def _timm_to_ours_key(key: str) -> str:
    return "head." + key.removeprefix("head.fc.") if key.startswith("head.fc.") else key


def _single(value: tuple[int, int] | int, name: str) -> int:
    value = (value, value) if isinstance(value, int) else tuple(value)
    if value[0] != value[1]:
        raise ValueError(f"timm Swin with non-square {name}={value} is not supported; lit_vision Swin uses square ones")
    return int(value[0])


def _window_size(model: timm_swin.SwinTransformer, blocks: list[nn.Module]) -> int:
    """The configured window (before timm shrinks it for small stages)."""
    windows = getattr(model, "_ref_window_sizes", None)  # timm >= 1.0.20
    if windows is None:
        return max(_single(block.window_size, "window_size") for block in blocks)
    window = _single(windows[0], "window_size")
    if any(_single(w, "window_size") != window for w in windows):
        raise ValueError(f"timm Swin with per-stage window sizes {windows} is not supported; use one window_size")
    return window


def _drop_path_rate(blocks: list[nn.Module]) -> float:
    last = blocks[-1].drop_path1
    return float(getattr(last, "drop_prob", 0.0))


def from_timm(model: timm_swin.SwinTransformer) -> SwinTransformer:
    if model.global_pool != "avg":
        raise ValueError(f"timm Swin with global_pool={model.global_pool!r} is not supported; use global_pool='avg'")
    stages = list(model.layers)
    blocks = [block for stage in stages for block in stage.blocks]
    first = blocks[0]
    window = _window_size(model, blocks)
    ours = SwinTransformer(
        img_size=tuple(model.patch_embed.img_size),
        patch_size=_single(model.patch_embed.patch_size, "patch_size"),
        in_chans=model.patch_embed.proj.in_channels,
        num_classes=model.num_classes,
        embed_dim=model.embed_dim,
        depths=[len(stage.blocks) for stage in stages],
        num_heads=[stage.blocks[0].attn.num_heads for stage in stages],
        window_size=window,
        mlp_ratio=first.mlp.fc1.out_features / first.mlp.fc1.in_features,
        qkv_bias=first.attn.qkv.bias is not None,
        drop_rate=model.head.drop.p,
        proj_drop_rate=first.attn.proj_drop.p,
        attn_drop_rate=first.attn.attn_drop.p,
        drop_path_rate=_drop_path_rate(blocks),
    )
    state = model.state_dict()
    renamed = {key: state[_ours_to_timm_key(key)] for key in ours.state_dict()}
    load_state_dict_strict(ours, renamed, "timm SwinTransformer")
    return ours.train(model.training)


def to_timm(model: SwinTransformer) -> timm_swin.SwinTransformer:
    blocks = [block for stage in model.layers for block in stage.blocks]
    first = blocks[0]
    theirs = timm_swin.SwinTransformer(
        img_size=model.img_size,
        patch_size=model.patch_size,
        in_chans=model.in_chans,
        num_classes=model.num_classes,
        embed_dim=model.embed_dim,
        depths=model.depths,
        num_heads=model.num_heads,
        window_size=model.window_size,
        mlp_ratio=first.mlp.fc1.out_features / first.mlp.fc1.in_features,
        qkv_bias=first.attn.qkv.bias is not None,
        drop_rate=model.head_drop.p,
        proj_drop_rate=first.attn.proj_drop.p,
        attn_drop_rate=first.attn.attn_drop_p,
        drop_path_rate=float(getattr(blocks[-1].drop_path1, "drop_prob", 0.0)),
    )
    renamed = {_ours_to_timm_key(key): value for key, value in model.state_dict().items()}
    load_state_dict_strict(theirs, renamed, "lit_vision SwinTransformer")
    return theirs.train(model.training)
