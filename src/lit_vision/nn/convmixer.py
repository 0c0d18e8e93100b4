"""ConvMixer (Trockman & Kolter, "Patches Are All You Need?", 2022).

patch embedding (conv, kernel = stride = patch) -> act -> BN, then depth x
[x + BN(act(depthwise conv k)) -> BN(act(pointwise conv))], global average pool, linear head.
"""

from collections.abc import Callable

import torch
from torch import nn

from lit_vision.nn.activations import get_activation
from lit_vision.nn.layers import check_divisible, check_images, check_positive, check_rates, pair


class ConvMixerBlock(nn.Module):
    def __init__(self, dim: int, kernel_size: int, act_layer: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(dim, dim, kernel_size, groups=dim, padding="same")
        self.act1 = act_layer()
        self.norm1 = nn.BatchNorm2d(dim)
        self.pointwise = nn.Conv2d(dim, dim, kernel_size=1)
        self.act2 = act_layer()
        self.norm2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.norm1(self.act1(self.depthwise(x)))
        return self.norm2(self.act2(self.pointwise(x)))


class PatchStem(nn.Module):
    def __init__(self, in_chans: int, dim: int, patch_size: int, act_layer: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)
        self.act = act_layer()
        self.norm = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.proj(x)))


class ConvMixer(nn.Module):
    """ConvMixer classifier: patch-embedding conv, then blocks of residual depthwise conv and pointwise conv.

    Args:
        dim: channels of every layer after the patch embedding.
        depth: number of ConvMixer blocks.
        kernel_size: side of the depthwise convolution kernels.
        patch_size: side (and stride) of the patch-embedding convolution.
        in_chans: input channels.
        num_classes: classifier outputs; 0 leaves ``head`` as Identity (pooled features).
        act_layer: activation after every convolution: a name ("gelu", "relu", "silu", "tanh") or an nn.Module class.
        drop_rate: dropout before the head.
    """

    def __init__(
        self,
        dim: int = 768,
        depth: int = 32,
        kernel_size: int = 7,
        patch_size: int = 7,
        in_chans: int = 3,
        num_classes: int = 1000,
        act_layer: str | type[nn.Module] = "gelu",
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive(dim=dim, depth=depth, kernel_size=kernel_size, patch_size=patch_size, in_chans=in_chans)
        check_rates(drop_rate=drop_rate)
        act = get_activation(act_layer)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = dim
        self.patch_size = patch_size
        self.stem = PatchStem(in_chans, dim, patch_size, act)
        self.blocks = nn.Sequential(*[ConvMixerBlock(dim, kernel_size, act) for _ in range(depth)])
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def check_input(self, x: torch.Tensor) -> None:
        check_images(x, self.in_chans)
        check_divisible("input size", (x.shape[-2], x.shape[-1]), pair(self.patch_size))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.blocks(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(x.mean(dim=(-2, -1)))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def no_weight_decay(self) -> set[str]:
        return set()


def convmixer_1536_20(**kwargs) -> ConvMixer:
    return ConvMixer(**{"dim": 1536, "depth": 20, "kernel_size": 9, "patch_size": 7, **kwargs})


def convmixer_768_32(**kwargs) -> ConvMixer:
    return ConvMixer(**{"dim": 768, "depth": 32, "kernel_size": 7, "patch_size": 7, "act_layer": "relu", **kwargs})


def convmixer_1024_20_ks9_p14(**kwargs) -> ConvMixer:
    return ConvMixer(**{"dim": 1024, "depth": 20, "kernel_size": 9, "patch_size": 14, **kwargs})


def convmixer_256_8(**kwargs) -> ConvMixer:
    """CIFAR-10 recipe of the paper: 256/8, kernel 5, patch 2 (~92.5 % in 25 epochs)."""
    return ConvMixer(**{"dim": 256, "depth": 8, "kernel_size": 5, "patch_size": 2, "num_classes": 10, **kwargs})


PRESETS: dict[str, Callable[..., ConvMixer]] = {
    "convmixer_1536_20": convmixer_1536_20,
    "convmixer_768_32": convmixer_768_32,
    "convmixer_1024_20_ks9_p14": convmixer_1024_20_ks9_p14,
    "convmixer_256_8": convmixer_256_8,
}
