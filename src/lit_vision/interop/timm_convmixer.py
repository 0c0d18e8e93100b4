"""ConvMixer <-> timm ConvMixer weight conversion."""

import timm.models.convmixer as timm_convmixer
from torch import nn

from lit_vision.interop.timm import load_state_dict_strict
from lit_vision.nn.convmixer import ConvMixer

# ours -> timm, per block `i` and for the stem
_BLOCK_KEYS = {"depthwise": "0.fn.0", "norm1": "0.fn.2", "pointwise": "1", "norm2": "3"}
_STEM_KEYS = {"proj": "0", "norm": "2"}


def _ours_to_timm_key(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "stem":
        return ".".join(["stem", _STEM_KEYS[parts[1]], *parts[2:]])
    if parts[0] == "blocks":
        return ".".join(["blocks", parts[1], _BLOCK_KEYS[parts[2]], *parts[3:]])
    return key


def _activation(act: nn.Module) -> str:
    return {nn.GELU: "gelu", nn.ReLU: "relu", nn.SiLU: "silu"}[type(act)]


def from_timm(model: timm_convmixer.ConvMixer) -> ConvMixer:
    stem_conv = model.stem[0]
    ours = ConvMixer(
        dim=model.num_features,
        depth=len(model.blocks),
        kernel_size=model.blocks[0][0].fn[0].kernel_size[0],
        patch_size=stem_conv.kernel_size[0],
        in_chans=stem_conv.in_channels,
        num_classes=model.num_classes,
        act_layer=_activation(model.stem[1]),
        drop_rate=model.head_drop.p,
    )
    renamed = {key: model.state_dict()[_ours_to_timm_key(key)] for key in ours.state_dict()}
    load_state_dict_strict(ours, renamed, "timm ConvMixer")
    return ours.train(model.training)


def to_timm(model: ConvMixer) -> timm_convmixer.ConvMixer:
    theirs = timm_convmixer.ConvMixer(
        dim=model.num_features,
        depth=len(model.blocks),
        kernel_size=model.blocks[0].depthwise.kernel_size[0],
        patch_size=model.patch_size,
        in_chans=model.in_chans,
        num_classes=model.num_classes,
        drop_rate=model.head_drop.p,
        act_layer=type(model.stem.act),
    )
    renamed = {_ours_to_timm_key(key): value for key, value in model.state_dict().items()}
    load_state_dict_strict(theirs, renamed, "lit_vision ConvMixer")
    return theirs.train(model.training)
