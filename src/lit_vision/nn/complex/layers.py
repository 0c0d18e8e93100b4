"""Complex-valued layers with real parameters (FCCN, Yadav & Jerripothula, ICCV 2023).

Activations are complex tensors (complex64); every parameter and buffer is a real tensor, so DDP, optimizers, EMA,
weight decay and checkpoints treat them like any other network. The layers follow the official FCCN code:

- `ComplexConv2d`: weight W_r + iW_i from two real tensors. Computed with 3 real convolutions (Gauss's trick) in a
  custom autograd function, instead of the official 4. Real biases b_r, b_i act as the complex bias
  (b_r - b_i) + i(b_r + b_i), which is what the official 4-convolution layer computes.
- `NaiveComplexBatchNorm2d` (split BN, used by all official nets) and `ComplexBatchNorm2d` (2x2 whitening, Trabelsi).
- `SplitPReLU` (the only official activation), `SplitReLU`, `ModReLU`.
- `SplitMaxPool2d` (official: can pair the real part of one pixel with the imaginary part of another),
  `MagnitudeMaxPool2d` (returns the value of largest modulus), `ComplexAvgPool2d`, `ComplexAdaptiveAvgPool2d`.
- `ComplexDropout` / `ComplexDropout2d`: drop whole complex values / whole channels.
- `ComplexLinear`: complex matrix from two real tensors.

The complex path is kept in float32 under autocast (no complex bfloat16 exists, and PyTorch's autocast would cast the
real convolutions inside the Gauss trick to low precision).

Convolution and linear layers live here; normalization, activations, pooling and dropout live in
``norm``, ``activations``, ``pooling`` and ``dropout`` next to this module and are re-exported here.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

from lit_vision.nn.complex.activations import ModReLU, SplitPReLU, SplitReLU
from lit_vision.nn.complex.checks import REAL_OF_COMPLEX, _fp32, _real_dtype_for, check_complex
from lit_vision.nn.complex.dropout import ComplexDropout, ComplexDropout2d
from lit_vision.nn.complex.norm import ComplexBatchNorm2d, NaiveComplexBatchNorm2d
from lit_vision.nn.complex.pooling import ComplexAdaptiveAvgPool2d, ComplexAvgPool2d, MagnitudeMaxPool2d, SplitMaxPool2d

__all__ = [
    "ComplexAdaptiveAvgPool2d",
    "ComplexAvgPool2d",
    "ComplexBatchNorm2d",
    "ComplexConv2d",
    "ComplexDropout",
    "ComplexDropout2d",
    "ComplexLinear",
    "MagnitudeMaxPool2d",
    "ModReLU",
    "NaiveComplexBatchNorm2d",
    "REAL_OF_COMPLEX",
    "SplitMaxPool2d",
    "SplitPReLU",
    "SplitReLU",
    "check_complex",
]


class _GaussConv2d(torch.autograd.Function):
    """y = conv(x, W_r + iW_i) + c with 3 real convolutions: with a = Re x, b = Im x,
    k1 = conv(a + b, W_r), k2 = conv(a, W_i - W_r), k3 = conv(b, W_r + W_i); Re y = k1 - k3, Im y = k1 + k2.
    The backward pass likewise needs 3 input-gradient and 3 weight-gradient convolutions."""

    @staticmethod
    def forward(ctx, x, weight_real, weight_imag, bias_real, bias_imag, stride, padding, dilation, groups):
        with _fp32(x.device):
            parts = torch.view_as_real(x).movedim(-1, 0).contiguous()
            a, b = parts[0], parts[1]
            w_sum, w_diff = weight_real + weight_imag, weight_imag - weight_real
            k1 = F.conv2d(a + b, weight_real, None, stride, padding, dilation, groups)
            k2 = F.conv2d(a, w_diff, bias_imag, stride, padding, dilation, groups)
            k3 = F.conv2d(b, w_sum, None if bias_real is None else -bias_real, stride, padding, dilation, groups)
            out = k1.new_empty(*k1.shape, 2)
            torch.sub(k1, k3, out=out[..., 0])
            torch.add(k1, k2, out=out[..., 1])
        ctx.save_for_backward(parts, weight_real, w_sum, w_diff)
        ctx.conv_args = (stride, padding, dilation, groups)
        ctx.has_bias = bias_real is not None
        return torch.view_as_complex(out)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        parts, weight_real, w_sum, w_diff = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv_args
        need_x, need_wr, need_wi, need_br, need_bi = ctx.needs_input_grad[:5]
        need_w = need_wr or need_wi
        mask = [need_x, need_w, False]
        grad_x = grad_wr = grad_wi = grad_br = grad_bi = None
        with _fp32(grad.device):
            grads = torch.view_as_real(grad.resolve_conj()).movedim(-1, 0).contiguous()
            g_re, g_im = grads[0], grads[1]
            a, b = parts[0], parts[1]

            def conv_grads(grad_out, inp, weight):
                return torch.ops.aten.convolution_backward(
                    grad_out, inp, weight, None, stride, padding, dilation, False, [0, 0], groups, mask
                )[:2]

            # dL/dk1 = g_re + g_im, dL/dk2 = g_im, dL/dk3 = -g_re
            gx1, gw1 = conv_grads(g_re + g_im, a + b, weight_real)
            gx2, gw2 = conv_grads(g_im, a, w_diff)
            gx3, gw3 = conv_grads(g_re, b, w_sum)
            if need_x:
                out = gx1.new_empty(*gx1.shape, 2)
                torch.add(gx1, gx2, out=out[..., 0])
                torch.sub(gx1, gx3, out=out[..., 1])
                grad_x = torch.view_as_complex(out)
            if need_w:
                grad_wr = gw1 - gw2 - gw3 if need_wr else None
                grad_wi = gw2 - gw3 if need_wi else None
            if ctx.has_bias and (need_br or need_bi):
                grad_br, grad_bi = g_re.sum((0, 2, 3)), g_im.sum((0, 2, 3))
        return grad_x, grad_wr, grad_wi, grad_br, grad_bi, None, None, None, None


class ComplexConv2d(nn.Module):
    """Complex 2-D convolution with weight W_r + iW_i; each part is initialized like `nn.Conv2d` (kaiming-uniform).

    Zero padding only. First-order gradients only (the Gauss-trick autograd function is once-differentiable).

    Args:
        in_channels: complex input channels.
        out_channels: complex output channels.
        kernel_size: kernel side, or (height, width).
        stride: stride, or (height, width).
        padding: zero padding on each side, or (height, width); integers only.
        dilation: kernel dilation, or (height, width).
        groups: channel groups; must divide ``in_channels`` and ``out_channels``.
        bias: learn a complex bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(padding, str):
            raise ValueError(f"ComplexConv2d padding={padding!r} is not supported; pass explicit integers")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"ComplexConv2d in_channels={in_channels} and out_channels={out_channels} must be divisible by "
                f"groups={groups}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight_real = nn.Parameter(torch.empty(shape))
        self.weight_imag = nn.Parameter(torch.empty(shape))
        if bias:
            self.bias_real = nn.Parameter(torch.empty(out_channels))
            self.bias_imag = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias_real", None)
            self.register_parameter("bias_imag", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.weight_real[0].numel()
        for weight in (self.weight_real, self.weight_imag):
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        if self.bias_real is not None:
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias_real, -bound, bound)
            nn.init.uniform_(self.bias_imag, -bound, bound)

    def complex_weight(self) -> torch.Tensor:
        return torch.complex(self.weight_real, self.weight_imag)

    def complex_bias(self) -> torch.Tensor | None:
        """The bias the layer adds: (b_r - b_i) + i(b_r + b_i), as in the official 4-convolution layer."""
        if self.bias_real is None:
            return None
        return torch.complex(self.bias_real - self.bias_imag, self.bias_real + self.bias_imag)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, f"ComplexConv2d(in_channels={self.in_channels})", channels=self.in_channels)
        _real_dtype_for(x, self.weight_real, "ComplexConv2d")
        bias_real = bias_imag = None
        if self.bias_real is not None:
            bias_real, bias_imag = self.bias_real - self.bias_imag, self.bias_real + self.bias_imag
        return _GaussConv2d.apply(
            x,
            self.weight_real,
            self.weight_imag,
            bias_real,
            bias_imag,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + f", bias={self.bias_real is not None}"


class ComplexLinear(nn.Module):
    """Complex linear layer y = x (W_r + iW_i)^T + (b_r + i b_i) on (..., in_features) complex input.

    Args:
        in_features: complex input features.
        out_features: complex output features.
        bias: learn a complex bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight_real = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_imag = nn.Parameter(torch.empty(out_features, in_features))
        if bias:
            self.bias_real = nn.Parameter(torch.empty(out_features))
            self.bias_imag = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias_real", None)
            self.register_parameter("bias_imag", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for weight in (self.weight_real, self.weight_imag):
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        if self.bias_real is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            nn.init.uniform_(self.bias_real, -bound, bound)
            nn.init.uniform_(self.bias_imag, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, f"ComplexLinear(in_features={self.in_features})", ndim=None)
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"ComplexLinear expects a complex tensor of shape (..., {self.in_features}), got {tuple(x.shape)}"
            )
        _real_dtype_for(x, self.weight_real, "ComplexLinear")
        bias = None if self.bias_real is None else torch.complex(self.bias_real, self.bias_imag)
        with _fp32(x.device):
            return F.linear(x, torch.complex(self.weight_real, self.weight_imag), bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias_real is not None}"
