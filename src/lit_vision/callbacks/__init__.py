"""Lightning callbacks of lit-vision, one job each. Imported lazily so `import lit_vision.callbacks` stays cheap."""

import importlib

_EXPORTS = {
    "RunConfigCallback": "lit_vision.callbacks.save_config",
    "ModelSummaryLogger": "lit_vision.callbacks.model_summary",
    "ConfusionMatrixLogger": "lit_vision.callbacks.confusion_matrix",
    "PredictionGridLogger": "lit_vision.callbacks.prediction_grid",
    "AttentionMapLogger": "lit_vision.callbacks.attention_maps",
    "ThroughputLogger": "lit_vision.callbacks.throughput",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lit_vision.callbacks' has no attribute {name!r}")
