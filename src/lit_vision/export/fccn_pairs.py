"""FCCN's complex path with every complex tensor held as a (real, imaginary) pair of real tensors.

ONNX has no complex arithmetic, so `lit-vision export --format onnx` runs the FCCN classifier through this module: the
same parameters and buffers (nothing is copied), evaluation mode only (BatchNorm running statistics, no dropout). Each
complex layer maps to its real-arithmetic form: a complex convolution W_r + iW_i as four real convolutions
(Re = conv(a, W_r) - conv(b, W_i), Im = conv(a, W_i) + conv(b, W_r)), split BN / PReLU / ReLU / pools per part,
modReLU and the magnitude max-pool through |z| = sqrt(a^2 + b^2). Layers without a pair form (whitening BN) raise
a one-line error naming the layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_vision.nn.complex import fccn as complex_nets
from lit_vision.nn.complex import layers as L

Pair = tuple[Tensor, Tensor]


def _conv(layer: L.ComplexConv2d, z: Pair) -> Pair:
    a, b = z
    args = (layer.stride, layer.padding, layer.dilation, layer.groups)
    wr, wi = layer.weight_real, layer.weight_imag
    real = F.conv2d(a, wr, None, *args) - F.conv2d(b, wi, None, *args)
    imag = F.conv2d(a, wi, None, *args) + F.conv2d(b, wr, None, *args)
    if layer.bias_real is not None:  # the complex bias (b_r - b_i) + i(b_r + b_i)
        real = real + (layer.bias_real - layer.bias_imag)[:, None, None]
        imag = imag + (layer.bias_real + layer.bias_imag)[:, None, None]
    return real, imag


def _per_channel(slope: Tensor, x: Tensor) -> Tensor:
    return slope.view(-1, *([1] * (x.ndim - 2))) if slope.numel() > 1 else slope


def _prelu(layer: L.SplitPReLU, z: Pair) -> Pair:
    a, b = z
    sr, si = _per_channel(layer.slope_real, a), _per_channel(layer.slope_imag, b)
    return torch.where(a >= 0, a, a * sr), torch.where(b >= 0, b, b * si)


def _modrelu(layer: L.ModReLU, z: Pair) -> Pair:
    a, b = z
    magnitude = torch.sqrt(a * a + b * b)
    scale = F.relu(magnitude + _per_channel(layer.bias, a)) / magnitude.clamp_min(layer.eps)
    return a * scale, b * scale


def _split_max_pool(layer: L.SplitMaxPool2d, z: Pair) -> Pair:
    args = (layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
    return F.max_pool2d(z[0], *args), F.max_pool2d(z[1], *args)


def _magnitude_max_pool(layer: L.MagnitudeMaxPool2d, z: Pair) -> Pair:
    a, b = z
    args = (layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
    _, index = F.max_pool2d(torch.sqrt(a * a + b * b), *args, return_indices=True)
    flat = index.flatten(2)
    return a.flatten(2).gather(2, flat).view(index.shape), b.flatten(2).gather(2, flat).view(index.shape)


def _avg_pool(layer: L.ComplexAvgPool2d, z: Pair) -> Pair:
    args = (layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode, layer.count_include_pad)
    return F.avg_pool2d(z[0], *args), F.avg_pool2d(z[1], *args)


def _adaptive_pool(layer: L.ComplexAdaptiveAvgPool2d, z: Pair) -> Pair:
    if layer.output_size == (1, 1):
        return z[0].mean((-2, -1), keepdim=True), z[1].mean((-2, -1), keepdim=True)
    return F.adaptive_avg_pool2d(z[0], layer.output_size), F.adaptive_avg_pool2d(z[1], layer.output_size)


def _sequential(layer: nn.Sequential, z: Pair) -> Pair:
    for child in layer:
        z = apply(child, z)
    return z


def _block(layer: nn.Module, z: Pair) -> Pair:
    """ComplexBasicBlock / ComplexBottleneck: convs, BNs and activations, then the residual sum."""
    n = 3 if isinstance(layer, complex_nets.ComplexBottleneck) else 2
    acts = (layer.act,) * n if layer.act is not None else tuple(getattr(layer, f"act{i + 1}") for i in range(n))
    shortcut = z if layer.downsample is None else apply(layer.downsample, z)
    for i in range(1, n + 1):
        z = apply(getattr(layer, f"bn{i}"), apply(getattr(layer, f"conv{i}"), z))
        if i < n:
            z = apply(acts[i - 1], z)
    return apply(acts[-1], (z[0] + shortcut[0], z[1] + shortcut[1]))


_RULES = {
    L.ComplexConv2d: _conv,
    L.NaiveComplexBatchNorm2d: lambda layer, z: (layer.bn_real(z[0]), layer.bn_imag(z[1])),
    L.SplitPReLU: _prelu,
    L.SplitReLU: lambda layer, z: (F.relu(z[0]), F.relu(z[1])),
    L.ModReLU: _modrelu,
    L.MagnitudeMaxPool2d: _magnitude_max_pool,  # before its base class SplitMaxPool2d
    L.SplitMaxPool2d: _split_max_pool,
    L.ComplexAvgPool2d: _avg_pool,
    L.ComplexAdaptiveAvgPool2d: _adaptive_pool,
    L.ComplexDropout: lambda layer, z: z,  # evaluation mode
    nn.Identity: lambda layer, z: z,
    nn.Sequential: _sequential,
    complex_nets.ComplexBasicBlock: _block,
    complex_nets.ComplexBottleneck: _block,
}


def apply(layer: nn.Module, z: Pair) -> Pair:
    """`layer(complex(z))` as a (real, imaginary) pair."""
    for kind, rule in _RULES.items():
        if type(layer) is kind or (kind is L.SplitMaxPool2d and isinstance(layer, kind)):
            return rule(layer, z)
    raise ValueError(
        f"FCCN layer {type(layer).__name__} has no real/imaginary-pair form, so the complex net cannot be exported "
        "to ONNX (which has no complex arithmetic); use norm naive, or export --format pt2 (keeps complex tensors)"
    )


def ihsv_pair(rgb: Tensor, channels: int, eps: float = 1e-6) -> Pair:
    """`rgb_to_ihsv` as a pair: 3 channels S*H + iV, S*e^iH, V + iS; 2 channels V + iS, e^iH (H in radians)."""
    from lit_vision.nn.complex.color import rgb_to_hsv

    hue, saturation, value = rgb_to_hsv(rgb, eps).unbind(-3)
    cos, sin = torch.cos(hue), torch.sin(hue)
    if channels == 3:
        return (
            torch.stack((saturation * hue, saturation * cos, value), dim=-3),
            torch.stack((value, saturation * sin, saturation), dim=-3),
        )
    return torch.stack((value, cos), dim=-3), torch.stack((saturation, sin), dim=-3)


class FCCNPairs(nn.Module):
    """RGB (or grey) in [0, 1] -> (scores |z| (B, K), logits as (B, K, 2) real/imaginary pairs) of an FCCNClassifier,
    in real arithmetic only."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        net = classifier.net
        if not isinstance(net, complex_nets.ComplexConvNet | complex_nets.ComplexVGG | complex_nets.ComplexResNet):
            raise ValueError(f"FCCN pair export supports the complex nets, not {type(net).__name__} (twin='real')")
        self.net = net
        self.channels = int(classifier.hparams.color_channels)
        for module in net.modules():  # fail now, naming the layer, rather than in the middle of tracing
            if type(module).__module__ == L.__name__ and not any(isinstance(module, kind) for kind in _RULES):
                apply(module, (torch.zeros(0), torch.zeros(0)))

    def forward(self, rgb: Tensor) -> tuple[Tensor, Tensor]:
        if rgb.shape[1] == 1:
            rgb = rgb.expand(-1, 3, -1, -1)
        z = ihsv_pair(rgb.clamp(0.0, 1.0), self.channels)
        net = self.net
        if isinstance(net, complex_nets.ComplexResNet):
            z = apply(net.maxpool, apply(net.act, apply(net.bn1, apply(net.conv1, z))))
            for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
                z = apply(stage, z)
            z = apply(net.fc, apply(net.global_pool, z))
        else:
            z = apply(net.features, z)
            z = apply(net.pool, z)
            z = (z[0].flatten(1)[..., None, None], z[1].flatten(1)[..., None, None])
            z = apply(net.classifier, z)
        real, imag = z[0].flatten(1), z[1].flatten(1)
        return torch.sqrt(real * real + imag * imag), torch.stack((real, imag), dim=-1)


__all__ = ["FCCNPairs", "apply", "ihsv_pair"]
