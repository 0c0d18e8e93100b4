"""LightningModules, one per architecture. Imported lazily so `import lit_vision.models` stays cheap."""

import importlib

_EXPORTS = {
    "ImageClassifier": "lit_vision.models.classifier",
    "ConvMixerClassifier": "lit_vision.models.convmixer",
    "TimmClassifier": "lit_vision.models.timm",
    "ViTClassifier": "lit_vision.models.vit",
    "SwinClassifier": "lit_vision.models.swin",
    "FCCNClassifier": "lit_vision.models.fccn",
    "Seq2SeqTransformer": "lit_vision.models.seq2seq",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lit_vision.models' has no attribute {name!r}")
