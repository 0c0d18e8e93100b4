"""Complex pooling: split and magnitude max pooling, average and adaptive average pooling."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from lit_vision.nn.complex.checks import check_complex

__all__ = ["ComplexAdaptiveAvgPool2d", "ComplexAvgPool2d", "MagnitudeMaxPool2d", "SplitMaxPool2d"]


class SplitMaxPool2d(nn.Module):
    """Max-pool of the real and imaginary parts independently (the official ComplexMaxPool2d).

    Args:
        kernel_size: window side, or (height, width).
        stride: window stride; None for ``kernel_size``.
        padding: implicit padding (never selected) on each side.
        dilation: spacing of the window elements.
        ceil_mode: round the output size up instead of down.
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, "SplitMaxPool2d")
        args = (self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        return torch.complex(F.max_pool2d(x.real, *args), F.max_pool2d(x.imag, *args))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MagnitudeMaxPool2d(SplitMaxPool2d):
    """Max-pool by modulus: each window returns its complex value of largest |z| (phase kept)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, "MagnitudeMaxPool2d")
        args = (self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        _, index = F.max_pool2d(x.abs(), *args, return_indices=True)
        # indices address each (b, c) plane flattened over H*W
        return x.flatten(2).gather(2, index.flatten(2)).view(index.shape)


class ComplexAvgPool2d(nn.Module):
    """Average pool (the same for the complex value and for its parts).

    Args:
        kernel_size: window side, or (height, width).
        stride: window stride; None for ``kernel_size``.
        padding: zero padding on each side.
        ceil_mode: round the output size up instead of down.
        count_include_pad: count the zero padding in the averages.
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, "ComplexAvgPool2d")
        args = (self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
        return torch.complex(F.avg_pool2d(x.real, *args), F.avg_pool2d(x.imag, *args))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class ComplexAdaptiveAvgPool2d(nn.Module):
    """Adaptive average pool for any output size (PyTorch's own handles complex only for output 1).

    Args:
        output_size: output side, or (height, width).
    """

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        super().__init__()
        self.output_size = _pair(output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, "ComplexAdaptiveAvgPool2d")
        if self.output_size == (1, 1):
            return x.mean((-2, -1), keepdim=True)
        return torch.complex(
            F.adaptive_avg_pool2d(x.real, self.output_size), F.adaptive_avg_pool2d(x.imag, self.output_size)
        )

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
