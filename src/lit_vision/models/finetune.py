"""Fine-tuning pieces of `ImageClassifier`: `pretrained` weights loaded once, a frozen backbone, layer-wise LR decay."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from lit_vision.interop.resize import classifier_prefixes

__all__ = [
    "apply_freeze",
    "check_finetune_args",
    "data_normalization",
    "keep_frozen_in_eval",
    "layer_decay_groups",
    "load_pretrained_once",
]


def check_finetune_args(pretrained: str | None, layer_decay: float | None, freeze: str) -> None:
    if freeze not in ("none", "backbone"):
        raise ValueError(f"freeze={freeze!r} is not supported; use 'none' or 'backbone' (linear probe)")
    if layer_decay is not None and not 0 < layer_decay <= 1:
        raise ValueError(f"layer_decay={layer_decay} must lie in (0, 1] (0.65-0.75 is usual) or be null (off)")
    if pretrained is not None:
        if not isinstance(pretrained, str) or not pretrained.strip():
            raise ValueError(
                f"pretrained={pretrained!r} is not a source; give a timm name, hf-hub:org/name, local-dir:/path, "
                "a weights file or a .ckpt, or null"
            )
        from lit_vision.interop.pretrained import check_pretrained_source

        check_pretrained_source(pretrained)


def load_pretrained_once(module: Any) -> str | None:
    """Load `module.hparams.pretrained` into `module.net` unless done already; log and return the report line."""
    source = module.hparams.get("pretrained")
    if not isinstance(source, str) or getattr(module, "_pretrained_loaded", False):
        return None
    from lit_vision.interop.pretrained import load_pretrained

    line = load_pretrained(module.net, source)
    module._pretrained_loaded = True
    module.pretrained_report = line
    rank_zero_info(line)
    return line


def _heads(net: nn.Module) -> tuple[str, ...]:
    heads = classifier_prefixes(net)
    if not heads:
        raise ValueError(
            f"freeze='backbone' needs a classifier head, but {type(net).__name__} has none named head / fc / "
            "classifier; set freeze: none"
        )
    return heads


def _frozen(module: Any) -> bool:
    hparams = getattr(module, "_hparams", None)
    return hparams is not None and hparams.get("freeze", "none") == "backbone" and hasattr(module, "net")


def apply_freeze(module: Any) -> None:
    """freeze='backbone': only the classifier head keeps `requires_grad`."""
    if not _frozen(module):
        return
    heads = _heads(module.net)
    for name, param in module.net.named_parameters():
        param.requires_grad_(any(name == h or name.startswith(h + ".") for h in heads))


def keep_frozen_in_eval(module: Any) -> None:
    """freeze='backbone': everything but the head stays in eval mode (BatchNorm statistics, dropout, drop path)."""
    if not _frozen(module) or not module.training:
        return
    heads = _heads(module.net)
    for name, child in module.net.named_children():
        if name not in heads:
            child.eval()


def layer_decay_groups(net: nn.Module, layer_decay: float, no_weight_decay: set[str]) -> list[dict[str, Any]]:
    """Layer-decay parameter groups: timm's own function for timm models, the same numbering for ours."""
    from lit_vision.models.param_groups import layer_decay_param_groups, timm_layer_decay_param_groups

    if type(net).__module__.startswith("timm."):
        return timm_layer_decay_param_groups(net, layer_decay, no_weight_decay)
    return layer_decay_param_groups(net, layer_decay, no_weight_decay)


def data_normalization(datamodule: Any) -> dict[str, list[float]] | None:
    """{"mean", "std"} the DataModule normalizes with (attribute or hyper-parameter), None when unknown."""
    if datamodule is None:
        return None
    hparams = getattr(datamodule, "hparams", {}) or {}
    mean = getattr(datamodule, "mean", None)
    std = getattr(datamodule, "std", None)
    mean = mean if mean is not None else hparams.get("mean")
    std = std if std is not None else hparams.get("std")
    if mean is None or std is None or not hparams.get("normalize", True):
        return None
    return {"mean": [float(m) for m in mean], "std": [float(s) for s in std]}
