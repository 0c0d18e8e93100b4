"""LightningModules, one per architecture. Imported lazily so `import lit_vision.models` stays cheap."""

from lit_vision.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)
