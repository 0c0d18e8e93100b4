"""Complex batch normalization: split BN (official FCCN nets) and whitening BN (Trabelsi et al., 2018)."""

import torch
from torch import nn

from lit_vision.nn.complex.checks import _fp32, check_complex

__all__ = ["ComplexBatchNorm2d", "NaiveComplexBatchNorm2d"]


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
