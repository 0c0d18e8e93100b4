"""Lightning callbacks of lit-vision, one job each. Imported lazily so `import lit_vision.callbacks` stays cheap."""

from lit_vision.lazy import lazy_exports

_EXPORTS = {
    "RunConfigCallback": "lit_vision.callbacks.save_config",
    "ModelSummaryLogger": "lit_vision.callbacks.model_summary",
    "ConfusionMatrixLogger": "lit_vision.callbacks.confusion_matrix",
    "PredictionGridLogger": "lit_vision.callbacks.prediction_grid",
    "AttentionMapLogger": "lit_vision.callbacks.attention_maps",
    "ThroughputLogger": "lit_vision.callbacks.throughput",
    "EMA": "lit_vision.callbacks.ema",
    "PredictionWriter": "lit_vision.callbacks.prediction_writer",
    "ProgressLog": "lit_vision.callbacks.progress_log",
    "AtomicCheckpointIO": "lit_vision.callbacks.checkpoint",
    "LastCheckpoint": "lit_vision.callbacks.checkpoint",
    "ExactResume": "lit_vision.callbacks.checkpoint",
}

__all__ = list(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
