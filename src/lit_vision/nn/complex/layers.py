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
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

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


# ---------------------------------------------------------------------------------------------------------------------
# Convolution


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


# ---------------------------------------------------------------------------------------------------------------------
# Normalization


class NaiveComplexBatchNorm2d(nn.Module):
    """Split BN: one `nn.BatchNorm2d` on the real part, another on the imaginary part (the BN of all official nets).

    Args:
        num_features: complex channels C of the (B, C, H, W) input.
        eps: added to the variance for numerical stability.
        momentum: running-statistics update factor; None for a cumulative average.
        affine: learn a scale and bias per channel.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.bn_real = nn.BatchNorm2d(num_features, eps, momentum, affine)
        self.bn_imag = nn.BatchNorm2d(num_features, eps, momentum, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, f"NaiveComplexBatchNorm2d(num_features={self.num_features})", channels=self.num_features)
        with _fp32(x.device):
            return torch.complex(self.bn_real(x.real), self.bn_imag(x.imag))


class ComplexBatchNorm2d(nn.Module):
    """Whitening complex BN (Trabelsi et al., "Deep Complex Networks", 2018).

    Per channel, (Re, Im) is centered and multiplied by the inverse square root of its 2x2 covariance V + eps*I, then
    by the symmetric affine matrix [[w_rr, w_ri], [w_ri, w_ii]] (initialized to the identity), plus a complex bias.
    Running mean and (unbiased) covariance are tracked like `nn.BatchNorm2d`.

    Args:
        num_features: complex channels C of the (B, C, H, W) input.
        eps: added to the variance for numerical stability.
        momentum: running-statistics update factor; None for a cumulative average.
        affine: learn a scale and bias per channel.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        if affine:
            self.weight_rr = nn.Parameter(torch.ones(num_features))
            self.weight_ri = nn.Parameter(torch.zeros(num_features))
            self.weight_ii = nn.Parameter(torch.ones(num_features))
            self.bias_real = nn.Parameter(torch.zeros(num_features))
            self.bias_imag = nn.Parameter(torch.zeros(num_features))
        for name in ("running_mean_real", "running_mean_imag", "running_var_ri"):
            self.register_buffer(name, torch.zeros(num_features))
        for name in ("running_var_rr", "running_var_ii"):
            self.register_buffer(name, torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_complex(x, f"ComplexBatchNorm2d(num_features={self.num_features})", channels=self.num_features)
        with _fp32(x.device):
            return self._normalize(x)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        view = (1, -1, 1, 1)
        xr, xi = x.real, x.imag
        if self.training:
            mean_r, mean_i = xr.mean((0, 2, 3)), xi.mean((0, 2, 3))
            cr, ci = xr - mean_r.view(view), xi - mean_i.view(view)
            var_rr, var_ri, var_ii = (cr * cr).mean((0, 2, 3)), (cr * ci).mean((0, 2, 3)), (ci * ci).mean((0, 2, 3))
            self._update_running_stats(mean_r, mean_i, var_rr, var_ri, var_ii, x.numel() // x.shape[1])
        else:
            mean_r, mean_i = self.running_mean_real, self.running_mean_imag
            cr, ci = xr - mean_r.view(view), xi - mean_i.view(view)
            var_rr, var_ri, var_ii = self.running_var_rr, self.running_var_ri, self.running_var_ii
        var_rr, var_ii = var_rr + self.eps, var_ii + self.eps
        # Inverse square root of the SPD matrix [[rr, ri], [ri, ii]]: with s = sqrt(det), t = sqrt(trace + 2s),
        # V^-1/2 = [[ii + s, -ri], [-ri, rr + s]] / (s t).
        s = torch.sqrt(var_rr * var_ii - var_ri * var_ri)
        t = torch.sqrt(var_rr + var_ii + 2 * s)
        inv = 1.0 / (s * t)
        u_rr, u_ri, u_ii = (var_ii + s) * inv, -var_ri * inv, (var_rr + s) * inv
        if self.affine:
            w_rr, w_ri, w_ii = self.weight_rr, self.weight_ri, self.weight_ii
            u_rr, u_ri, u_ir, u_ii = (
                w_rr * u_rr + w_ri * u_ri,
                w_rr * u_ri + w_ri * u_ii,
                w_ri * u_rr + w_ii * u_ri,
                w_ri * u_ri + w_ii * u_ii,
            )
        else:
            u_ir = u_ri
        yr = u_rr.view(view) * cr + u_ri.view(view) * ci
        yi = u_ir.view(view) * cr + u_ii.view(view) * ci
        if self.affine:
            yr, yi = yr + self.bias_real.view(view), yi + self.bias_imag.view(view)
        return torch.complex(yr, yi)

    @torch.no_grad()
    def _update_running_stats(self, mean_r, mean_i, var_rr, var_ri, var_ii, n: int) -> None:
        self.num_batches_tracked += 1
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbias = n / max(n - 1, 1)
        for buf, value in (
            (self.running_mean_real, mean_r),
            (self.running_mean_imag, mean_i),
            (self.running_var_rr, var_rr * unbias),
            (self.running_var_ri, var_ri * unbias),
            (self.running_var_ii, var_ii * unbias),
        ):
            buf.lerp_(value.detach(), momentum)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


# ---------------------------------------------------------------------------------------------------------------------
# Activations


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


# ---------------------------------------------------------------------------------------------------------------------
# Pooling


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


# ---------------------------------------------------------------------------------------------------------------------
# Dropout


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
