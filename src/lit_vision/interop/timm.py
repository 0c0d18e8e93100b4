"""Port weights between lit_vision networks and their timm twins.

`from_timm(timm_model)` builds the matching lit_vision network, `to_timm(model)` the matching timm network; both copy
every weight and buffer. Each family lives in its own module (`timm_<family>.py`) exposing `from_timm` and `to_timm`;
this module dispatches on the class name.
"""

import importlib

from torch import nn

# class name (timm's and ours share it) -> converter module
CONVERTERS: dict[str, str] = {
    "ConvMixer": "lit_vision.interop.timm_convmixer",
    "VisionTransformer": "lit_vision.interop.timm_vit",
    "SwinTransformer": "lit_vision.interop.timm_swin",
}


def _converter(model: nn.Module):
    name = type(model).__name__
    if name not in CONVERTERS:
        raise ValueError(f"no timm converter for {name}; supported families: {sorted(CONVERTERS)}")
    return importlib.import_module(CONVERTERS[name])


def from_timm(timm_model: nn.Module) -> nn.Module:
    """lit_vision network with the same architecture and weights as `timm_model`."""
    if not type(timm_model).__module__.startswith("timm."):
        raise ValueError(
            f"from_timm expects a timm model, got {type(timm_model).__module__}.{type(timm_model).__name__}"
        )
    return _converter(timm_model).from_timm(timm_model)


def to_timm(model: nn.Module) -> nn.Module:
    """timm network with the same architecture and weights as the lit_vision `model`."""
    if not type(model).__module__.startswith("lit_vision."):
        raise ValueError(f"to_timm expects a lit_vision model, got {type(model).__module__}.{type(model).__name__}")
    return _converter(model).to_timm(model)


def load_state_dict_strict(target: nn.Module, state_dict: dict, source: str) -> None:
    """Copy a converted state dict, failing with the exact missing/unexpected keys."""
    missing, unexpected = target.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"weights from {source} do not fit {type(target).__name__}: missing {missing}, unexpected {unexpected}"
        )
