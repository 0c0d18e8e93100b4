"""Plain PyTorch networks (no Lightning): `from lit_vision.nn import SwinTransformer, swin_t`.

Names resolve lazily, so importing one family does not import the others.
"""

import importlib

_MODULES = ("attention", "transformer", "decoding", "vit", "swin", "convmixer")
_EXPORTS = {
    "MultiHeadAttention": "attention",
    "Transformer": "transformer",
    "Seq2SeqTransformer": "transformer",
    "VisionTransformer": "vit",
    "SwinTransformer": "swin",
    "ConvMixer": "convmixer",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"lit_vision.nn.{_EXPORTS[name]}"), name)
    for module in _MODULES:  # presets: swin_t, vit_small_patch16_224, convmixer_768_32, ...
        presets = getattr(importlib.import_module(f"lit_vision.nn.{module}"), "PRESETS", {})
        if name in presets:
            return presets[name]
    raise AttributeError(f"module 'lit_vision.nn' has no attribute {name!r}")
