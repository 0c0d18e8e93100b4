"""Complex dropout: drop whole complex values (``ComplexDropout``) or whole channels (``ComplexDropout2d``)."""

from collections.abc import Sequence

import torch
from torch import nn

from lit_vision.nn.complex.checks import REAL_OF_COMPLEX, check_complex

__all__ = ["ComplexDropout", "ComplexDropout2d"]


class ComplexDropout(nn.Module):
    """Dropout of whole complex values (real and imaginary part share the mask), scaled by 1 / (1 - p).

    Args:
        p: probability of zeroing an element (a channel in ComplexDropout2d).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"{type(self).__name__} p={p} must be in [0, 1)")
        self.p = p

    def _mask_shape(self, x: torch.Tensor) -> Sequence[int]:
        return x.shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, type(self).__name__, ndim=None)
        if not self.training or self.p == 0.0:
            return x
        real = REAL_OF_COMPLEX[x.dtype]
        keep = torch.empty(self._mask_shape(x), dtype=real, device=x.device).bernoulli_(1.0 - self.p)
        return x * (keep / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ComplexDropout2d(ComplexDropout):
    """Dropout of whole channels of a (B, C, H, W) complex tensor."""

    def _mask_shape(self, x: torch.Tensor) -> Sequence[int]:
        if x.ndim != 4:
            raise ValueError(f"ComplexDropout2d expects a complex tensor of shape (B, C, H, W), got {tuple(x.shape)}")
        return (x.shape[0], x.shape[1], 1, 1)
