"""Complex activations: split PReLU (the official FCCN activation), split ReLU and modReLU."""

import torch
import torch.nn.functional as F
from torch import nn

from lit_vision.nn.complex.checks import _fp32, check_complex

__all__ = ["ModReLU", "SplitPReLU", "SplitReLU"]


def _apply_split(x: torch.Tensor, fn) -> torch.Tensor:
    """Apply a real elementwise fn to (Re, Im) interleaved in one pass."""
    return torch.view_as_complex(fn(torch.view_as_real(x)))


class SplitPReLU(nn.Module):
    """PReLU on the real and imaginary parts with separate slopes (official CPReLU: 2 scalars, init 0.25).

    Args:
        num_parameters: slopes per part: 1 (shared by all channels) or the number of channels.
        init: initial value of every slope.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.slope_real = nn.Parameter(torch.full((num_parameters,), init))
        self.slope_imag = nn.Parameter(torch.full((num_parameters,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, "SplitPReLU", ndim=None)
        if self.num_parameters > 1 and (x.ndim < 2 or x.shape[1] != self.num_parameters):
            raise ValueError(
                f"SplitPReLU(num_parameters={self.num_parameters}) expects (B, {self.num_parameters}, ...) complex "
                f"input, got {tuple(x.shape)}"
            )
        # slopes laid out as (C, 1, ..., 1, 2) to broadcast over view_as_real(x) = (B, C, *spatial, 2)
        slopes = torch.stack((self.slope_real, self.slope_imag), dim=-1)
        slopes = slopes.view(self.num_parameters, *([1] * max(x.ndim - 2, 0)), 2)
        with _fp32(x.device):
            return _apply_split(x, lambda v: torch.where(v >= 0, v, v * slopes.to(v.dtype)))

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class SplitReLU(nn.Module):
    """ReLU on the real and imaginary parts separately (CReLU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, "SplitReLU", ndim=None)
        return _apply_split(x, F.relu)


class ModReLU(nn.Module):
    """modReLU (Arjovsky et al., 2016): relu(|z| + b) * z / |z| with a learnable real bias b.

    Args:
        num_parameters: biases: 1 (shared by all channels) or the number of channels.
        init: initial value of every bias.
        eps: lower bound of |z| in the division.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.eps = eps
        self.bias = nn.Parameter(torch.full((num_parameters,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, "ModReLU", ndim=None)
        if self.num_parameters > 1 and (x.ndim < 2 or x.shape[1] != self.num_parameters):
            raise ValueError(
                f"ModReLU(num_parameters={self.num_parameters}) expects (B, {self.num_parameters}, ...) complex input, "
                f"got {tuple(x.shape)}"
            )
        bias = self.bias.view(self.num_parameters, *([1] * max(x.ndim - 2, 0)))
        with _fp32(x.device):
            magnitude = x.abs()
            return x * (F.relu(magnitude + bias) / magnitude.clamp_min(self.eps))

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
