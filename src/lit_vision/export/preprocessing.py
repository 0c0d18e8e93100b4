"""What a served model needs besides its weights: input size, mean/std, class names (or the vocabulary of a
sequence model), written as `preprocessing.json` beside every export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L

FILENAME = "preprocessing.json"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return float(value) if hasattr(value, "item") and not isinstance(value, int | float) else value


def describe(module: L.LightningModule, datamodule: L.LightningDataModule) -> dict[str, Any]:
    """The preprocessing of `datamodule` (set up first) as the exported `module` expects it."""
    hp = getattr(datamodule, "hparams", {})
    if hasattr(datamodule, "src_vocab"):  # sequence data: token ids in, token ids out
        return {
            "task": "seq2seq",
            "input": "src token ids (B, S) int64, padded with pad_id; decoder tokens start with bos_id",
            "src_vocab": list(datamodule.src_vocab.itos) if hasattr(datamodule.src_vocab, "itos") else None,
            "tgt_vocab": list(datamodule.tgt_vocab.itos) if hasattr(datamodule.tgt_vocab, "itos") else None,
            "pad_id": int(datamodule.pad_id),
            "bos_id": int(datamodule.bos_id),
            "eos_id": int(datamodule.eos_id),
            "max_len": int(module.net.max_len),
        }
    normalize = bool(hp.get("normalize", True))
    in_chans = int(getattr(module, "in_chans", getattr(datamodule, "in_chans", 3)))
    size = int(getattr(module, "image_size", getattr(datamodule, "image_size", 0)))
    names = getattr(module, "class_names", None) or getattr(datamodule, "class_names", None)
    info: dict[str, Any] = {
        "task": "image_classification",
        "input_size": [in_chans, size, size],
        "layout": "NCHW float32, RGB (or grey) scaled to [0, 1]"
        + (", then (x - mean) / std per channel" if normalize else ", not normalized"),
        "interpolation": str(hp.get("interpolation", "bilinear")),
        "normalize": normalize,
        "mean": _plain(getattr(datamodule, "mean", hp.get("mean"))) if normalize else None,
        "std": _plain(getattr(datamodule, "std", hp.get("std"))) if normalize else None,
        "num_classes": int(module.num_classes),
        "class_names": list(names) if names else None,
    }
    if type(module).__name__ == "FCCNClassifier":
        info["note"] = "the model converts RGB in [0, 1] to the complex iHSV color model itself; scores are |logits|"
    return info


def write(directory: str | Path, info: dict[str, Any], **extra: Any) -> Path:
    """Write `info` (plus `extra` fields, e.g. the export's file names) as `directory/preprocessing.json`."""
    path = Path(directory) / FILENAME
    path.write_text(json.dumps({**info, **extra}, indent=2) + "\n")
    return path
