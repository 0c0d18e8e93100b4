"""Real-valued twins of the FCCN networks, for side-by-side runs on RGB input.

- ResNets: timm's `ResNet` with the same block counts and stage widths (timm defaults: ReLU, zero-initialized last
  BN; its stem is 64 wide whatever the stage widths); the CIFAR stem replaces the 7x7/2 conv + max-pool by a 3x3/1
  conv, as in the complex net.
- VGG: [3x3 conv -> BN -> ReLU] stages with 2x2 max-pools, adaptive average pool to 7x7, one linear classifier.
- ConvNet: the plain conv net of `ComplexConvNet` with real convs, BN and PReLU, and a linear head.
"""

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from lit_vision.nn.complex.fccn import VGG_CFGS

RESNET_LAYERS: dict[int, tuple[Literal["basic", "bottleneck"], tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def real_resnet(
    depth: int = 18,
    num_classes: int = 1000,
    in_chans: int = 3,
    width: int = 64,
    stem: Literal["imagenet", "cifar"] = "imagenet",
    drop_rate: float = 0.0,
) -> nn.Module:
    """timm ResNet-`depth` with stage widths width * (1, 2, 4, 8); timm's plain stem is always 64 wide."""
    from timm.models.resnet import BasicBlock, Bottleneck, ResNet

    if depth not in RESNET_LAYERS:
        raise ValueError(f"real_resnet depth={depth} is not supported; choose one of {sorted(RESNET_LAYERS)}")
    block, layers = RESNET_LAYERS[depth]
    model = ResNet(
        BasicBlock if block == "basic" else Bottleneck,
        layers,
        num_classes=num_classes,
        in_chans=in_chans,
        stem_width=width,
        channels=tuple(width * 2**i for i in range(4)),
        drop_rate=drop_rate,
    )
    if stem == "cifar":
        model.conv1 = nn.Conv2d(in_chans, model.bn1.num_features, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    return model


class RealVGG(nn.Module):
    """Real twin of `ComplexVGG`: [3x3 conv -> BN -> ReLU] stages with 2x2 max-pools, average pool, linear head.

    Args:
        depth: VGG depth: 11, 13, 16 or 19.
        num_classes: classifier outputs.
        in_chans: input channels.
        pool_size: side of the adaptive average pool before the classifier.
        drop_rate: dropout before the classifier.
    """

    def __init__(
        self, depth: int = 11, num_classes: int = 1000, in_chans: int = 3, pool_size: int = 7, drop_rate: float = 0.0
    ) -> None:
        super().__init__()
        if depth not in VGG_CFGS:
            raise ValueError(f"RealVGG depth={depth} is not supported; choose one of {sorted(VGG_CFGS)}")
        layers: list[nn.Module] = []
        channels = in_chans
        for v in VGG_CFGS[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(v), 3, 1, 1, bias=False), nn.BatchNorm2d(int(v)), nn.ReLU(True)]
                channels = int(v)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.head_drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(channels * pool_size * pool_size, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.pool(x).flatten(1))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class RealConvNet(nn.Module):
    """Real counterpart of `ComplexConvNet`: [conv -> (BN) -> PReLU] per width, adaptive pool, flatten, linear head.

    Args:
        widths: channels of each conv layer.
        num_classes: classifier outputs.
        in_chans: input channels.
        kernel_size: side of every conv kernel.
        stride: stride of every conv, or one per layer.
        padding: zero padding of every conv.
        norm: BatchNorm after each conv (the convs then have no bias).
        pool_size: side of the adaptive average pool before the classifier.
        hidden: width of a hidden linear layer before the classifier; 0 for none.
        drop_rate: dropout before the classifier.
    """

    def __init__(
        self,
        widths: Sequence[int] = (8, 16, 32, 32),
        num_classes: int = 10,
        in_chans: int = 3,
        kernel_size: int = 3,
        stride: int | Sequence[int] = 2,
        padding: int = 0,
        norm: bool = False,
        pool_size: int = 2,
        hidden: int = 0,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        strides = [stride] * len(widths) if isinstance(stride, int) else list(stride)
        if not widths or len(strides) != len(widths):
            raise ValueError(f"RealConvNet stride={stride} must be an int or one value per width in {list(widths)}")
        layers: list[nn.Module] = []
        channels = in_chans
        for w, s in zip(widths, strides):
            layers.append(nn.Conv2d(channels, w, kernel_size, s, padding, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.PReLU())
            channels = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.head_drop = nn.Dropout(drop_rate)
        features = channels * pool_size * pool_size
        if hidden > 0:
            self.classifier = nn.Sequential(nn.Linear(features, hidden), nn.PReLU(), nn.Linear(hidden, num_classes))
        else:
            self.classifier = nn.Sequential(nn.Linear(features, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.pool(x).flatten(1))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
