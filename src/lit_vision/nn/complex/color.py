"""The complex-valued color model of FCCN ("iHSV", Yadav & Jerripothula, ICCV 2023).

RGB in [0, 1] (no mean/std normalization) -> HSV with H in radians [0, 2pi), S = (max - min) / (max + eps), V = max,
then HSV -> complex channels:

- 3 channels (the model of all main experiments): ``S*H + iV``, ``S*e^{iH}``, ``V + iS``
- 2 channels (the input of the small CDS-E-style net): ``V + iS``, ``e^{iH}``

Everything is batched over any leading dims ``(*, C, H, W)`` and runs on the tensor's device.
The inverse reads V and S from the ``V + iS`` channel and H from the phase of the hue phasor.
"""

import math

import torch
from torch import nn

TWO_PI = 2.0 * math.pi


def _check_real_image(x: torch.Tensor, fn: str, what: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn} expects a torch.Tensor of shape (*, 3, H, W), got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"{fn} expects a real floating {what} tensor of shape (*, 3, H, W), got dtype {x.dtype}")
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"{fn} expects a {what} tensor of shape (*, 3, H, W), got {tuple(x.shape)}")


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    # Half precision has no complex counterpart worth using here: compute the color model in float32.
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def rgb_to_hsv(rgb: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RGB in [0, 1], shape (*, 3, H, W) -> HSV with H in [0, 2pi) radians, S and V in [0, 1]; gray pixels get H = 0."""
    _check_real_image(rgb, "rgb_to_hsv", "RGB")
    rgb = rgb.to(_compute_dtype(rgb))
    r, g, b = rgb.unbind(-3)
    value, _ = rgb.max(-3)
    chroma = value - rgb.amin(-3)
    saturation = chroma / (value + eps)
    safe_chroma = torch.where(chroma == 0, torch.ones_like(chroma), chroma)
    # Hexcone sector position in [-1, 5); ties between maxima give the same value in either branch.
    sector = torch.where(
        value == r,
        (g - b) / safe_chroma,
        torch.where(value == g, 2.0 + (b - r) / safe_chroma, 4.0 + (r - g) / safe_chroma),
    )
    hue = TWO_PI * torch.remainder(sector / 6.0, 1.0)
    return torch.stack((hue, saturation, value), dim=-3)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """HSV with H in radians (any real value, taken mod 2pi), S and V in [0, 1] -> RGB, shape (*, 3, H, W)."""
    _check_real_image(hsv, "hsv_to_rgb", "HSV")
    hsv = hsv.to(_compute_dtype(hsv))
    hue, saturation, value = hsv.unbind(-3)
    sextant = hue * (6.0 / TWO_PI)
    # Branch-free hexcone: channel n in (R, G, B) = (5, 3, 1) is V - V*S*clamp(min(k, 4 - k), 0, 1), k = (n + h) mod 6.
    offsets = torch.tensor([5.0, 3.0, 1.0], dtype=hsv.dtype, device=hsv.device).view(3, 1, 1)
    k = torch.remainder(sextant.unsqueeze(-3) + offsets, 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    return value.unsqueeze(-3) * (1.0 - saturation.unsqueeze(-3) * ramp)


def hsv_to_ihsv(hsv: torch.Tensor, channels: int = 3) -> torch.Tensor:
    """HSV (H in radians) -> complex iHSV channels (complex64 for float32 input)."""
    _check_real_image(hsv, "hsv_to_ihsv", "HSV")
    _check_channels(channels, "hsv_to_ihsv")
    hsv = hsv.to(_compute_dtype(hsv))
    hue, saturation, value = hsv.unbind(-3)
    cos, sin = torch.cos(hue), torch.sin(hue)
    if channels == 3:
        real = torch.stack((saturation * hue, saturation * cos, value), dim=-3)
        imag = torch.stack((value, saturation * sin, saturation), dim=-3)
    else:
        real = torch.stack((value, cos), dim=-3)
        imag = torch.stack((saturation, sin), dim=-3)
    return torch.complex(real, imag)


def ihsv_to_hsv(z: torch.Tensor) -> torch.Tensor:
    """Inverse of `hsv_to_ihsv` for 3- or 2-channel input; H is undefined (returned as is) where S = 0."""
    if not isinstance(z, torch.Tensor) or not z.is_complex():
        got = z.dtype if isinstance(z, torch.Tensor) else type(z).__name__
        raise TypeError(f"ihsv_to_hsv expects a complex iHSV tensor of shape (*, 3 or 2, H, W), got {got}")
    if z.ndim < 3 or z.shape[-3] not in (2, 3):
        raise ValueError(f"ihsv_to_hsv expects a complex iHSV tensor of shape (*, 3 or 2, H, W), got {tuple(z.shape)}")
    value_sat, phasor = (z[..., 2, :, :], z[..., 1, :, :]) if z.shape[-3] == 3 else (z[..., 0, :, :], z[..., 1, :, :])
    hue = torch.remainder(torch.angle(phasor), TWO_PI)
    return torch.stack((hue, value_sat.imag, value_sat.real), dim=-3)


def rgb_to_ihsv(rgb: torch.Tensor, channels: int = 3, eps: float = 1e-6) -> torch.Tensor:
    """RGB in [0, 1], shape (*, 3, H, W) -> complex iHSV of shape (*, channels, H, W); channels is 3 or 2."""
    _check_real_image(rgb, "rgb_to_ihsv", "RGB")
    _check_channels(channels, "rgb_to_ihsv")
    return hsv_to_ihsv(rgb_to_hsv(rgb, eps), channels)


def ihsv_to_rgb(z: torch.Tensor) -> torch.Tensor:
    """Complex iHSV (3 or 2 channels) -> RGB in [0, 1]."""
    return hsv_to_rgb(ihsv_to_hsv(z))


def _check_channels(channels: int, fn: str) -> None:
    if channels not in (2, 3):
        raise ValueError(f"{fn} channels={channels} is not supported; use 3 (S*H+iV, S*e^iH, V+iS) or 2 (V+iS, e^iH)")


class RGBToIHSV(nn.Module):
    """Module form of `rgb_to_ihsv`, for use as a batched on-device transform.

    Args:
        channels: complex channels of the output: 3 (iHSV) or 2 (V + iS, e^iH).
        eps: added to V when computing the saturation C / V (black pixels).
    """

    def __init__(self, channels: int = 3, eps: float = 1e-6) -> None:
        super().__init__()
        _check_channels(channels, "RGBToIHSV")
        self.channels = channels
        self.eps = eps

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb_to_ihsv(rgb, self.channels, self.eps)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
