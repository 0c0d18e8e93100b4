"""Input checks and dtype helpers shared by the complex layers (``lit_vision.nn.complex``)."""

import torch

__all__ = ["REAL_OF_COMPLEX", "check_complex"]


REAL_OF_COMPLEX = {torch.complex64: torch.float32, torch.complex128: torch.float64}


def check_complex(x: torch.Tensor, layer: str, ndim: int | None = 4, channels: int | None = None) -> None:
    """Raise a one-line TypeError/ValueError unless x is a complex tensor of the expected rank and channel count."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{layer} expects a complex tensor, got {type(x).__name__}")
    shape = "(B, C, H, W)" if ndim == 4 else "(B, C)" if ndim == 2 else "(B, C, ...)"
    if channels is not None:
        shape = shape.replace("C", str(channels), 1)
    if not x.is_complex():
        raise TypeError(
            f"{layer} expects a complex64 tensor of shape {shape}, got a real {str(x.dtype).removeprefix('torch.')} "
            f"tensor of shape "
            f"{tuple(x.shape)}; convert images with lit_vision.nn.complex.rgb_to_ihsv first"
        )
    if (ndim is not None and x.ndim != ndim) or (channels is not None and (x.ndim < 2 or x.shape[1] != channels)):
        raise ValueError(f"{layer} expects a complex tensor of shape {shape}, got {tuple(x.shape)}")


def _real_dtype_for(x: torch.Tensor, weight: torch.Tensor, layer: str) -> torch.dtype:
    real = REAL_OF_COMPLEX.get(x.dtype)
    if real != weight.dtype:
        raise TypeError(
            f"{layer} has {weight.dtype} parameters and expects {'complex64' if weight.dtype == torch.float32 else 'complex128'} "
            f"input, got {x.dtype}; cast the input or the module so they match"
        )
    return real


def _fp32(device: torch.device) -> torch.autocast:
    return torch.autocast(device_type=device.type, enabled=False)
