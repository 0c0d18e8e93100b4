"""`--format timm`: the network converted with `lit_vision.interop.to_timm` and written in timm's `local-dir` layout
(`config.json` + `model.safetensors`, through timm's own `save_for_hf`), so that
`timm.create_model("local-dir:PATH", pretrained=True)` rebuilds it: `architecture` names a registered timm model and
`model_args` override its preset to our shape; mean/std, input size and class names go into its `pretrained_cfg`.
The directory is loaded back through timm and its logits compared to eager PyTorch on a real batch.

timm's ConvMixer presets fix their shape, so a ConvMixer of another shape is saved as `lit_vision_convmixer`, a timm
model this module registers: `import lit_vision.export.timm_dir` before `timm.create_model` loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from lit_vision.export.graphs import freeze
from lit_vision.interop import to_timm

# timm's ConvMixer presets fix dim/depth/kernel/patch (their kwargs cannot override them): (dim, depth, kernel, patch, act)
_CONVMIXER_PRESETS = {
    (1536, 20, 9, 7, nn.GELU): "convmixer_1536_20",
    (768, 32, 7, 7, nn.ReLU): "convmixer_768_32",
    (1024, 20, 9, 14, nn.GELU): "convmixer_1024_20_ks9_p14",
}
CONVMIXER_ARCHITECTURE = "lit_vision_convmixer"  # any other shape: registered by importing this module
_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}
default_cfgs = {CONVMIXER_ARCHITECTURE: {"first_conv": "stem.0", "classifier": "head"}}  # read by timm's register_model


def _vit_args(net: nn.Module, timm_net: nn.Module) -> tuple[str, dict[str, Any]]:
    block = net.blocks[0]
    if block.norm1.eps != 1e-6:
        raise ValueError(f"ViT norm_eps={block.norm1.eps} cannot be stored in timm's config (timm builds 1e-6)")
    args = {
        "img_size": list(net.img_size),
        "patch_size": list(net.patch_size),
        "in_chans": net.in_chans,
        "num_classes": net.num_classes,
        "global_pool": net.global_pool,
        "class_token": net.cls_token is not None,
        "embed_dim": net.embed_dim,
        "depth": len(net.blocks),
        "num_heads": block.attn.num_heads,
        "mlp_ratio": block.mlp.fc1.out_features / net.embed_dim,
        "qkv_bias": block.attn.qkv.bias is not None,
    }
    init_values = getattr(block.ls1, "init_values", None)
    if init_values is not None:
        args["init_values"] = init_values
    return "vit_base_patch16_224", args


def _swin_args(net: nn.Module, timm_net: nn.Module) -> tuple[str, dict[str, Any]]:
    first = net.layers[0].blocks[0]
    size = net.img_size
    return "swin_tiny_patch4_window7_224", {
        "img_size": list(size) if isinstance(size, tuple | list) else [size, size],
        "patch_size": net.patch_size,
        "in_chans": net.in_chans,
        "num_classes": net.num_classes,
        "embed_dim": net.embed_dim,
        "depths": list(net.depths),
        "num_heads": list(net.num_heads),
        "window_size": net.window_size,
        "mlp_ratio": first.mlp.fc1.out_features / first.mlp.fc1.in_features,
        "qkv_bias": first.attn.qkv.bias is not None,
    }


def register_convmixer() -> None:
    """Register `lit_vision_convmixer` with timm: a ConvMixer of any shape, `act_layer` named by a string."""
    import timm
    from timm.models import build_model_with_cfg, register_model
    from timm.models.convmixer import ConvMixer

    if CONVMIXER_ARCHITECTURE in timm.list_models(CONVMIXER_ARCHITECTURE):
        return

    def lit_vision_convmixer(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        kwargs["act_layer"] = _ACTIVATIONS[kwargs.get("act_layer", "gelu")]
        return build_model_with_cfg(ConvMixer, CONVMIXER_ARCHITECTURE, pretrained, **kwargs)

    register_model(lit_vision_convmixer)


def _convmixer_args(net: nn.Module, timm_net: nn.Module) -> tuple[str, dict[str, Any]]:
    act = type(timm_net.stem[1])
    shape = (net.num_features, len(net.blocks), net.blocks[0].depthwise.kernel_size[0], net.patch_size)
    args = {"in_chans": net.in_chans, "num_classes": net.num_classes}
    if (*shape, act) in _CONVMIXER_PRESETS:
        return _CONVMIXER_PRESETS[(*shape, act)], args
    names = {cls: name for name, cls in _ACTIVATIONS.items()}
    if act not in names:
        raise ValueError(f"ConvMixer act_layer {act.__name__} cannot be named in timm's config; use gelu, relu or silu")
    register_convmixer()
    dims = dict(zip(("dim", "depth", "kernel_size", "patch_size"), shape))
    return CONVMIXER_ARCHITECTURE, {**dims, **args, "act_layer": names[act]}


_FAMILIES = {"VisionTransformer": _vit_args, "SwinTransformer": _swin_args, "ConvMixer": _convmixer_args}


def check_family(net: nn.Module) -> None:
    family = type(net).__name__
    if family not in _FAMILIES:
        raise ValueError(
            f"--format timm supports ViT, Swin and ConvMixer (the families with a timm twin), not {family}; "
            "use --format onnx or pt2"
        )


def timm_architecture(net: nn.Module, timm_net: nn.Module) -> tuple[str, dict[str, Any]]:
    """(registered timm model name, JSON-serializable `model_args`) that rebuild `net`'s architecture in timm."""
    check_family(net)
    return _FAMILIES[type(net).__name__](net, timm_net)


def data_config(info: dict[str, Any]) -> dict[str, Any]:
    """timm's preprocessing fields from our `preprocessing.json` content."""
    channels = info["input_size"][0]
    return {
        "input_size": tuple(info["input_size"]),
        "interpolation": info["interpolation"],
        "mean": tuple(info["mean"]) if info["mean"] else (0.0,) * channels,
        "std": tuple(info["std"]) if info["std"] else (1.0,) * channels,
        "crop_pct": 1.0,
        "crop_mode": "center",
    }


def save_timm_dir(net: nn.Module, directory: Path, info: dict[str, Any]) -> nn.Module:
    """Write `net` as a timm local-dir; returns the timm model it was written from."""
    import timm
    from timm.models import save_for_hf

    check_family(net)
    timm_net = to_timm(net).eval()
    architecture, model_args = timm_architecture(net, timm_net)
    fresh = timm.create_model(architecture, pretrained=False, **model_args)
    fresh.load_state_dict(timm_net.state_dict())
    model_config = {"label_names": list(info["class_names"])} if info.get("class_names") else None
    save_for_hf(
        fresh,
        str(directory),
        model_config=model_config,
        model_args={k: v for k, v in model_args.items() if k == "act_layer"} or None,
        safe_serialization=True,
        data_config=data_config(info),
    )
    return fresh


def export_timm(module: L.LightningModule, batch: Any, directory: Path, info: dict[str, Any]) -> dict[str, Any]:
    import timm

    freeze(module)
    save_timm_dir(module.net, directory, info)
    loaded = timm.create_model(f"local-dir:{directory}", pretrained=True).eval()
    images = batch[0]
    with torch.no_grad():
        diff = max((loaded(x) - module(x)).abs().max().item() for x in (images, images[:1]))
    return {
        "files": ["config.json", "model.safetensors"],
        "max_abs_diff": diff,
        "runtime": f'timm {timm.__version__} (timm.create_model("local-dir:{directory}", pretrained=True))',
    }
