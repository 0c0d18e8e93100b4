"""Convert state dicts between the official FCCN code (GitHub saurabhya/FCCNs) and `lit_vision.nn.complex`.

Module paths are the same on both sides (conv1, bn1, layer1.0.conv2, downsample.0, fc, features.3, classifier.0, ...)
except that the official shared activation `prelu` is called `act` here. Leaf names differ:

| official                                | lit_vision                                   |
|-----------------------------------------|----------------------------------------------|
| `conv_real.weight` / `conv_imag.weight` | `weight_real` / `weight_imag`                |
| `conv_real.bias` / `conv_imag.bias`     | `bias_real` / `bias_imag`                    |
| `real_bn.*` / `imag_bn.*`               | `bn_real.*` / `bn_imag.*`                    |
| `real_prelu.weight` / `imag_prelu.weight` | `slope_real` / `slope_imag`                |
| `Wrr Wri Wii Br Bi` (whitening BN)      | `weight_rr weight_ri weight_ii bias_real bias_imag` |
| `RMr RMi RVrr RVri RVii`                | `running_mean_real running_mean_imag running_var_rr running_var_ri running_var_ii` |

Values are copied unchanged: the conv biases keep the official parameterization (the layer applies
(b_r - b_i) + i(b_r + b_i)). Keys that match no rule pass through.
"""

from collections.abc import Mapping

import torch

# leaf renames: official suffix (last two or one components) -> ours
_OFFICIAL_TO_OURS: dict[str, str] = {
    "conv_real.weight": "weight_real",
    "conv_imag.weight": "weight_imag",
    "conv_real.bias": "bias_real",
    "conv_imag.bias": "bias_imag",
    "real_prelu.weight": "slope_real",
    "imag_prelu.weight": "slope_imag",
    "Wrr": "weight_rr",
    "Wri": "weight_ri",
    "Wii": "weight_ii",
    "Br": "bias_real",
    "Bi": "bias_imag",
    "RMr": "running_mean_real",
    "RMi": "running_mean_imag",
    "RVrr": "running_var_rr",
    "RVri": "running_var_ri",
    "RVii": "running_var_ii",
}
_MODULE_OFFICIAL_TO_OURS = {"real_bn": "bn_real", "imag_bn": "bn_imag", "prelu": "act"}
_WHITENING_MARKERS = ("weight_rr", "running_mean_real")


def _unwrap(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        state_dict = state_dict["state_dict"]  # a training checkpoint of the official main.py
    out = {}
    for key, value in state_dict.items():
        out[key[len(prefix) :] if prefix and key.startswith(prefix) else key] = value
    return out


def _split(key: str) -> tuple[str, str]:
    head, _, leaf = key.rpartition(".")
    return head, leaf


def from_official(state_dict: Mapping[str, torch.Tensor], strip_prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Official FCCN state dict (or training checkpoint with a "state_dict" entry) -> lit_vision key layout.

    `strip_prefix` removes the "module." of checkpoints saved from DataParallel / DDP.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in _unwrap(state_dict, strip_prefix).items():
        parts = key.split(".")
        new_leaf: list[str] | None = None
        for n in (2, 1):
            suffix = ".".join(parts[-n:])
            if len(parts) >= n and suffix in _OFFICIAL_TO_OURS:
                new_leaf, parts = [_OFFICIAL_TO_OURS[suffix]], parts[:-n]
                break
        parts = [_MODULE_OFFICIAL_TO_OURS.get(p, p) for p in parts] + (new_leaf or [])
        out[".".join(parts)] = value
    return out


def to_official(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """lit_vision state dict (from `lit_vision.nn.complex` networks) -> official FCCN key layout."""
    whitening_leaves = {v: k for k, v in _OFFICIAL_TO_OURS.items() if k[0] in "WBR"}
    other_leaves = {v: k for k, v in _OFFICIAL_TO_OURS.items() if k[0] not in "WBR"}
    module_to_official = {v: k for k, v in _MODULE_OFFICIAL_TO_OURS.items()}
    keys = set(state_dict)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        head, leaf = _split(key)
        prefix = f"{head}." if head else ""
        # bias_real / bias_imag belong to a whitening BN when the module has its markers, else to a conv
        whitening = any(f"{prefix}{marker}" in keys for marker in _WHITENING_MARKERS)
        new_leaf = (whitening_leaves if whitening else other_leaves).get(leaf, leaf)
        parts = [module_to_official.get(p, p) for p in head.split(".")] if head else []
        out[".".join([*parts, new_leaf])] = value
    return out
