"""Pretrained weights for lit_vision networks: find them, read them through timm, convert them to our layout.

A source (the `pretrained` option of every image model) is one of
- a timm name with optional tag (`swin_tiny_patch4_window7_224.ms_in22k`), `hf-hub:org/name`, or `local-dir:/path`
  (timm's offline layout: `config.json` + `model.safetensors` / `pytorch_model.bin`): timm builds its model and loads
  the weights (`timm.create_model(source, pretrained=True)`, downloading where the network allows), and
  `lit_vision.interop.from_timm` converts them;
- a local file: `.safetensors`, `.pth` / `.bin` / `.pt` in timm's layout, the official Swin layout (`{"model": ...}`,
  downsampling at the end of a stage) or the official FCCN layout, read by timm's `load_state_dict`;
- a lit-vision `.ckpt`: the network's weights of an earlier run (optimizer, schedule and epoch are not restored).
`load_pretrained(net, source)` then fits the tensors to `net` (`lit_vision.interop.resize`) and returns the one-line
report of what happened. `pretrained_normalization(source)` gives the mean / std the weights were trained with.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lit_vision.interop.resize import adapt_state_dict

__all__ = [
    "PretrainedWeights",
    "check_pretrained_source",
    "fill_data_normalization",
    "is_file_source",
    "load_pretrained",
    "pretrained_normalization",
    "read_pretrained",
]

TIMM_PREFIXES = ("hf-hub:", "local-dir:")
FILE_SUFFIXES = (".safetensors", ".pth", ".bin", ".pt", ".tar", ".ckpt")
_FCCN_OFFICIAL_MARKERS = ("conv_real.weight", "real_bn.weight", "real_prelu.weight", ".Wrr", ".RMr")

Normalization = tuple[tuple[float, ...], tuple[float, ...]]


@dataclass
class PretrainedWeights:
    """Tensors in lit_vision's key layout, with what is known about how they were trained."""

    source: str
    state_dict: dict[str, Tensor]
    grid: tuple[int, int] | None = None  # ViT patch grid of the pretrained model
    normalization: Normalization | None = None


def is_file_source(source: str) -> bool:
    """A local file (by suffix or path separator), as opposed to a timm name, hf-hub: or local-dir: source."""
    return not source.startswith(TIMM_PREFIXES) and (
        source.lower().endswith(FILE_SUFFIXES) or os.sep in source or Path(source).expanduser().is_file()
    )


def check_pretrained_source(source: str) -> None:
    """Fail early (at model construction) on a local source that does not exist."""
    if source.startswith("local-dir:"):
        folder = Path(source.removeprefix("local-dir:")).expanduser()
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"pretrained={source!r}: {folder} has no config.json; a local-dir holds timm's offline layout "
                "(config.json + model.safetensors or pytorch_model.bin, e.g. from timm.models.save_for_hf)"
            )
    elif is_file_source(source) and not Path(source).expanduser().is_file():
        raise FileNotFoundError(
            f"pretrained={source!r} is not a file; give a .safetensors / .pth / .bin / .ckpt file, "
            "a timm name (vit_small_patch16_224.augreg_in21k), hf-hub:org/name or local-dir:/path"
        )


# --- reading -----------------------------------------------------------------------------------------------------
def _family_check(source: str, timm_model: nn.Module, net: nn.Module) -> None:
    if type(timm_model).__name__ != type(net).__name__:
        raise ValueError(
            f"pretrained={source!r} is a timm {type(timm_model).__name__}, but this model is a {type(net).__name__}; "
            "choose the model class of the weights' architecture or weights of this architecture"
        )


def _read_timm(source: str, net: nn.Module) -> PretrainedWeights:
    import timm

    from lit_vision.interop.timm import from_timm

    try:
        timm_model = timm.create_model(source, pretrained=True)
    except Exception as error:  # unknown name, no network, broken folder: one line with the way out
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"pretrained={source!r}: timm could not load it ({reason}); check the name (timm.list_pretrained()), "
            "or download the weights elsewhere and pass local-dir:/path or a .safetensors / .pth file"
        ) from error
    _family_check(source, timm_model, net)
    ours = from_timm(timm_model)
    cfg = getattr(timm_model, "pretrained_cfg", {}) or {}
    normalization = (tuple(cfg["mean"]), tuple(cfg["std"])) if cfg.get("mean") and cfg.get("std") else None
    grid = getattr(getattr(ours, "patch_embed", None), "grid_size", None)
    grid = tuple(grid) if grid is not None else None
    return PretrainedWeights(source, ours.state_dict(), grid, normalization)


def _swin_to_ours(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """timm or official Swin layout -> ours. The official code downsamples at the end of stage i (timm and ours at
    the start of stage i + 1); both name the classifier `head` (timm `head.fc`)."""
    official = "layers.0.downsample.reduction.weight" in state
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if official and len(parts) > 2 and parts[0] == "layers" and parts[2] == "downsample":
            parts[1] = str(int(parts[1]) + 1)
        key = ".".join(parts)
        out["head." + key.removeprefix("head.fc.") if key.startswith("head.fc.") else key] = value
    return out


def _file_to_ours(state: dict[str, Tensor], net: nn.Module) -> dict[str, Tensor]:
    family = type(net).__name__
    if family == "SwinTransformer":
        return _swin_to_ours(state)
    if family == "ConvMixer":
        from lit_vision.interop.timm_convmixer import _ours_to_timm_key

        names = {_ours_to_timm_key(key): key for key in net.state_dict()}
        return {names.get(key, key): value for key, value in state.items()}
    if any(key.endswith(_FCCN_OFFICIAL_MARKERS) for key in state):
        from lit_vision.interop.fccn_official import from_official

        return from_official(state)
    return dict(state)


def _read_lightning_checkpoint(source: str, path: Path) -> PretrainedWeights:
    from lit_vision.state_dict import strip_compile_prefix

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    state = checkpoint.get("state_dict", {}) if isinstance(checkpoint, dict) else {}
    names = {strip_compile_prefix(k): k for k in state}
    weights = {name.removeprefix("net."): state[k] for name, k in names.items() if name.startswith("net.")}
    if not weights:
        raise ValueError(
            f"pretrained={source!r} is not a lit-vision checkpoint (no 'net.' weights in its state_dict); "
            "give a checkpoint written by `lit-vision fit` or a weights file (.safetensors / .pth)"
        )
    norm = checkpoint.get("normalization") or {}
    normalization = (tuple(norm["mean"]), tuple(norm["std"])) if norm.get("mean") and norm.get("std") else None
    return PretrainedWeights(source, weights, None, normalization)


def read_pretrained(source: str, net: nn.Module) -> PretrainedWeights:
    """The tensors of `source` in the key layout of `net`'s family (shapes as saved)."""
    check_pretrained_source(source)
    if not is_file_source(source):
        return _read_timm(source, net)
    path = Path(source).expanduser()
    if path.suffix == ".ckpt":
        return _read_lightning_checkpoint(source, path)
    from timm.models import load_state_dict

    try:
        state = load_state_dict(str(path), use_ema=False)
    except Exception as error:
        raise ValueError(
            f"pretrained={source!r} could not be read as a weights file ({type(error).__name__}: {error}); "
            "give a .safetensors file or a torch.save'd state dict (.pth / .bin)"
        ) from error
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"pretrained={source!r} does not hold a state dict of tensors")
    return PretrainedWeights(source, _file_to_ours(state, net))


def load_pretrained(net: nn.Module, source: str) -> str:
    """Load `source` into `net`, adapted to its classes, channels, image size and windows; returns the report line."""
    weights = read_pretrained(source, net)
    state, report = adapt_state_dict(weights.state_dict, net, weights.grid)
    reference = next((t for t in net.state_dict().values() if t.is_floating_point()), None)
    if reference is not None:
        state = {k: v.to(device=reference.device) for k, v in state.items()}
    net.load_state_dict(state, strict=False)
    return report.line(source)


# --- normalization -----------------------------------------------------------------------------------------------
def _from_cfg(cfg: dict[str, Any]) -> Normalization | None:
    mean, std = cfg.get("mean"), cfg.get("std")
    return (tuple(float(m) for m in mean), tuple(float(s) for s in std)) if mean and std else None


def pretrained_normalization(source: str) -> Normalization | None:
    """(mean, std) the weights of `source` expect (ImageNet's or 0.5 / 0.5), None where the source does not say."""
    if source.startswith("local-dir:"):
        config = Path(source.removeprefix("local-dir:")).expanduser() / "config.json"
        if not config.is_file():
            return None
        cfg = json.loads(config.read_text())
        return _from_cfg(cfg.get("pretrained_cfg", cfg))
    if is_file_source(source):
        path = Path(source).expanduser()
        if path.suffix != ".ckpt" or not path.is_file():
            return None
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        return _from_cfg(checkpoint.get("normalization") or {}) if isinstance(checkpoint, dict) else None
    try:
        if source.startswith("hf-hub:"):
            from timm.models import load_model_config_from_hf

            cfg = load_model_config_from_hf(source.removeprefix("hf-hub:"))[0]
        else:
            from timm.models import get_pretrained_cfg

            cfg = get_pretrained_cfg(source)
        cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg or {})
    except Exception:  # no network / unknown name: the model reports it when it loads the weights
        return None
    return _from_cfg(cfg)


def fill_data_normalization(model_args: dict[str, Any], data_args: dict[str, Any]) -> bool:
    """Set the DataModule's `mean` / `std` (where it has them and the config leaves them null) to those of the
    model's `pretrained` weights. Returns whether it changed anything."""
    source = model_args.get("pretrained")
    if not isinstance(source, str) or "mean" not in data_args or "std" not in data_args:
        return False
    if data_args.get("mean") is not None or data_args.get("std") is not None:
        return False
    normalization = pretrained_normalization(source)
    if normalization is None:
        return False
    mean, std = normalization
    in_chans = data_args.get("in_chans")
    if isinstance(in_chans, int) and len(mean) != in_chans:
        if in_chans != 1:
            return False
        mean, std = (sum(mean) / len(mean),), (sum(std) / len(std),)  # grey data, RGB-pretrained weights
    data_args["mean"], data_args["std"] = list(mean), list(std)
    return True


def fill_cli_normalization(config: Any) -> bool:
    """`fill_data_normalization` on a parsed LightningCLI config (`model.init_args`, `data.init_args`)."""
    model_args, data_args = config.get("model.init_args"), config.get("data.init_args")
    if model_args is None or data_args is None:
        return False
    return fill_data_normalization(model_args, data_args)
