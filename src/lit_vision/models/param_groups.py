"""Optimizer parameter groups with layer-wise learning-rate decay (BEiT / timm fine-tuning recipe).

Every parameter gets a layer id: the patch embedding (with class token and position embedding) is layer 0, each
Transformer block / ConvMixer block one layer above the previous, the final norm belongs to the last block, and the
classifier is the top layer. A parameter of layer i trains at lr * layer_decay ** (top - i), so the head keeps the
full learning rate and each block below is scaled by one more factor of `layer_decay`. Within a layer, norms, biases
and the model's `no_weight_decay()` names form a group without weight decay. The layer numbering is the one timm's
`group_matcher(coarse=False)` gives the same architectures, so the groups equal `timm.optim.param_groups_layer_decay`
on the timm twin (Swin: a stage's patch merging belongs to the stage's first block).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from torch import nn

__all__ = ["layer_decay_param_groups", "layer_ids"]


def _vit_ids(net: nn.Module) -> dict[str, int]:
    depth = len(net.blocks)
    ids = {}
    for name, _ in net.named_parameters():
        first = name.split(".")[0]
        if first in ("patch_embed", "cls_token", "pos_embed"):
            ids[name] = 0
        elif first == "blocks":
            ids[name] = int(name.split(".")[1]) + 1
        elif first == "norm":
            ids[name] = depth
        else:
            ids[name] = depth + 1
    return ids


def _swin_ids(net: nn.Module) -> dict[str, int]:
    block_ids, first_block, next_id = {}, {}, 1
    for stage, layer in enumerate(net.layers):
        first_block[stage] = next_id
        for block in range(len(layer.blocks)):
            block_ids[(stage, block)] = next_id
            next_id += 1
    last = next_id - 1
    ids = {}
    for name, _ in net.named_parameters():
        parts = name.split(".")
        if parts[0] == "patch_embed":
            ids[name] = 0
        elif parts[0] == "layers" and parts[2] == "downsample":
            ids[name] = first_block[int(parts[1])]
        elif parts[0] == "layers":
            ids[name] = block_ids[(int(parts[1]), int(parts[3]))]
        elif parts[0] == "norm":
            ids[name] = last
        else:
            ids[name] = last + 1
    return ids


def _convmixer_ids(net: nn.Module) -> dict[str, int]:
    depth = len(net.blocks)
    ids = {}
    for name, _ in net.named_parameters():
        parts = name.split(".")
        ids[name] = 0 if parts[0] == "stem" else int(parts[1]) + 1 if parts[0] == "blocks" else depth + 1
    return ids


_RULES = {"VisionTransformer": _vit_ids, "SwinTransformer": _swin_ids, "ConvMixer": _convmixer_ids}


def layer_ids(net: nn.Module) -> dict[str, int]:
    """Layer id of every parameter name of a lit_vision ViT, Swin or ConvMixer (0 = patch embedding)."""
    rule = _RULES.get(type(net).__name__)
    if rule is None:
        raise ValueError(
            f"layer_decay is not defined for {type(net).__name__}; use it with ViT, Swin, ConvMixer or timm models, "
            "or set layer_decay: null"
        )
    return rule(net)


def layer_decay_param_groups(
    net: nn.Module, layer_decay: float, no_weight_decay: Collection[str] = ()
) -> list[dict[str, Any]]:
    """Groups {"params", "lr_scale"[, "weight_decay": 0.0]} in the order parameters first appear; groups with weight
    decay leave its value to the optimizer."""
    ids = layer_ids(net)
    top = max(ids.values())
    exempt = set(no_weight_decay)
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in net.named_parameters():
        if not param.requires_grad:
            continue
        decay = not (param.ndim <= 1 or name in exempt or name.rsplit(".", 1)[-1] in exempt)
        key = (ids[name], decay)
        if key not in groups:
            groups[key] = {"params": [], "lr_scale": layer_decay ** (top - ids[name])}
            if not decay:
                groups[key]["weight_decay"] = 0.0
        groups[key]["params"].append(param)
    return list(groups.values())


def timm_layer_decay_param_groups(
    net: nn.Module, layer_decay: float, no_weight_decay: Collection[str] = ()
) -> list[dict[str, Any]]:
    """timm's own layer-decay groups for a timm model, with the weight decay of decaying groups left to the
    optimizer."""
    from timm.optim import param_groups_layer_decay

    groups = param_groups_layer_decay(
        net, weight_decay=1.0, no_weight_decay_list=list(no_weight_decay), layer_decay=layer_decay
    )
    for group in groups:
        if group["weight_decay"] != 0.0:
            del group["weight_decay"]
    return groups
