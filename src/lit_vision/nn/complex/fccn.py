"""FCCN networks: fully complex-valued ResNet, VGG and a small CDS-E-style net (Yadav & Jerripothula, ICCV 2023).

The official code swaps every layer of torchvision's ResNet (v1.5) and VGG for a complex one: complex convs (no bias
by default; the ImageNet models use bias), split ("naive") BN, split PReLU with one module shared by all activations
of a block, split max-pool in the stem and VGG, global average pool, and a 1x1 complex conv as classifier. The
networks take complex input (the iHSV color model, see `color.py`) and return complex logits z of shape (B, K);
class scores are |z|. Module names follow the official layout (after renaming prelu -> act), so
`lit_vision.interop.fccn_official` converts its checkpoints.
"""

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from lit_vision.nn.complex.layers import (
    ComplexAdaptiveAvgPool2d,
    ComplexBatchNorm2d,
    ComplexConv2d,
    ComplexDropout,
    MagnitudeMaxPool2d,
    ModReLU,
    NaiveComplexBatchNorm2d,
    SplitMaxPool2d,
    SplitPReLU,
    SplitReLU,
    check_complex,
)

Norm = Literal["naive", "whitening"]
Act = Literal["prelu", "relu", "modrelu"]
Pool = Literal["split", "magnitude"]

NORMS: dict[str, Callable[[int], nn.Module]] = {"naive": NaiveComplexBatchNorm2d, "whitening": ComplexBatchNorm2d}
ACTS: dict[str, Callable[[], nn.Module]] = {"prelu": SplitPReLU, "relu": SplitReLU, "modrelu": ModReLU}
MAX_POOLS: dict[str, type[SplitMaxPool2d]] = {"split": SplitMaxPool2d, "magnitude": MagnitudeMaxPool2d}


def _choice(table: dict, value: str, arg: str, owner: str):
    if value not in table:
        raise ValueError(f"{owner} {arg}={value!r} is not supported; choose one of {sorted(table)}")
    return table[value]


def check_input(x: torch.Tensor, owner: str, in_chans: int) -> None:
    hint = f"rgb_to_ihsv(rgb, channels={in_chans})" if in_chans in (2, 3) else "a complex tensor"
    if isinstance(x, torch.Tensor) and x.is_complex() and x.ndim == 4 and x.shape[1] != in_chans:
        raise ValueError(
            f"{owner}(in_chans={in_chans}) expects complex input of shape (B, {in_chans}, H, W), got "
            f"{x.shape[1]} channels {tuple(x.shape)}; feed {hint} or set in_chans={x.shape[1]}"
        )
    check_complex(x, f"{owner}(in_chans={in_chans})", channels=in_chans)


class ComplexBasicBlock(nn.Module):
    """ResNet basic block of complex layers: two 3x3 convs with BN, activation after each and after the sum.

    Args:
        in_planes: input channels.
        planes: width of the block; the output has planes * expansion channels.
        stride: stride of the first 3x3 conv (2 halves the resolution).
        downsample: module applied to the shortcut when shape changes (1x1 conv and BN), or None.
        norm: complex batch norm: "naive" (split, official) or "whitening".
        act: complex activation: "prelu" (split, official), "relu" (split) or "modrelu".
        bias: learn biases in the complex convolutions.
        share_act: one activation module for every activation of the block, as the official code does.
    """

    expansion = 1

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm: Norm = "naive",
        act: Act = "prelu",
        bias: bool = False,
        share_act: bool = True,
    ) -> None:
        super().__init__()
        norm_layer, act_layer = NORMS[norm], ACTS[act]
        self.conv1 = ComplexConv2d(in_planes, planes, 3, stride, 1, bias=bias)
        self.bn1 = norm_layer(planes)
        self.conv2 = ComplexConv2d(planes, planes, 3, 1, 1, bias=bias)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        # official: one activation module shared by every activation of the block
        self.act = act_layer() if share_act else None
        self.act1 = None if share_act else act_layer()
        self.act2 = None if share_act else act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act1, act2 = (self.act, self.act) if self.act is not None else (self.act1, self.act2)
        shortcut = x if self.downsample is None else self.downsample(x)
        x = act1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return act2(x + shortcut)


class ComplexBottleneck(nn.Module):
    """torchvision's v1.5 bottleneck of complex layers (stride on the 3x3 conv).

    Args:
        in_planes: input channels.
        planes: width of the block; the output has planes * expansion channels.
        stride: stride of the 3x3 conv (2 halves the resolution).
        downsample: module applied to the shortcut when shape changes (1x1 conv and BN), or None.
        norm: complex batch norm: "naive" (split, official) or "whitening".
        act: complex activation: "prelu" (split, official), "relu" (split) or "modrelu".
        bias: learn biases in the complex convolutions.
        share_act: one activation module for every activation of the block, as the official code does.
    """

    expansion = 4

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm: Norm = "naive",
        act: Act = "prelu",
        bias: bool = False,
        share_act: bool = True,
    ) -> None:
        super().__init__()
        norm_layer, act_layer = NORMS[norm], ACTS[act]
        out_planes = planes * self.expansion
        self.conv1 = ComplexConv2d(in_planes, planes, 1, bias=bias)
        self.bn1 = norm_layer(planes)
        self.conv2 = ComplexConv2d(planes, planes, 3, stride, 1, bias=bias)
        self.bn2 = norm_layer(planes)
        self.conv3 = ComplexConv2d(planes, out_planes, 1, bias=bias)
        self.bn3 = norm_layer(out_planes)
        self.downsample = downsample
        self.act = act_layer() if share_act else None
        self.act1 = None if share_act else act_layer()
        self.act2 = None if share_act else act_layer()
        self.act3 = None if share_act else act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acts = (self.act,) * 3 if self.act is not None else (self.act1, self.act2, self.act3)
        shortcut = x if self.downsample is None else self.downsample(x)
        x = acts[0](self.bn1(self.conv1(x)))
        x = acts[1](self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return acts[2](x + shortcut)


BLOCKS: dict[str, type[ComplexBasicBlock] | type[ComplexBottleneck]] = {
    "basic": ComplexBasicBlock,
    "bottleneck": ComplexBottleneck,
}


def _no_weight_decay(model: nn.Module) -> set[str]:
    """Norm affine parameters, biases and activation parameters: every parameter with at most one dimension."""
    return {name for name, p in model.named_parameters() if p.ndim <= 1}


class ComplexResNet(nn.Module):
    """Complex ResNet with torchvision's topology.

    Args:
        block: "basic" (ResNet-18/34) or "bottleneck" (ResNet-50 and deeper).
        layers: blocks in each of the 4 stages, e.g. [2, 2, 2, 2] for ResNet-18.
        num_classes: classifier outputs; 0 leaves the classifier as Identity (pooled features).
        in_chans: complex input channels (3 for iHSV, 2 for V + iS, e^iH).
        width: stem and first-stage width; stage i has width * 2**i (64 official, 32 the official half width).
        stem: "imagenet": 7x7/2 conv -> BN -> act -> 3x3/2 max-pool (official); "cifar": 3x3/1 conv -> BN -> act.
        bias: learn biases in the complex convolutions (the official ImageNet models do).
        norm: complex batch norm: "naive" (split, official) or "whitening".
        act: complex activation: "prelu" (split, official), "relu" (split) or "modrelu".
        pool: stem max-pool: "split" (real and imaginary parts apart, official) or "magnitude" (largest |z|).
        share_act: one activation module for every activation of a block, as the official code does.
        drop_rate: dropout before the classifier.
    """

    def __init__(
        self,
        block: Literal["basic", "bottleneck"] = "basic",
        layers: Sequence[int] = (2, 2, 2, 2),
        num_classes: int = 1000,
        in_chans: int = 3,
        width: int = 64,
        stem: Literal["imagenet", "cifar"] = "imagenet",
        bias: bool = False,
        norm: Norm = "naive",
        act: Act = "prelu",
        pool: Pool = "split",
        share_act: bool = True,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        block_cls = _choice(BLOCKS, block, "block", "ComplexResNet")
        norm_layer = _choice(NORMS, norm, "norm", "ComplexResNet")
        act_layer = _choice(ACTS, act, "act", "ComplexResNet")
        pool_layer = _choice(MAX_POOLS, pool, "pool", "ComplexResNet")
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"ComplexResNet stem={stem!r} is not supported; choose 'imagenet' or 'cifar'")
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"ComplexResNet layers={list(layers)} must be 4 positive block counts, e.g. [2, 2, 2, 2]")
        self.in_chans = in_chans
        self.num_classes = num_classes
        if stem == "imagenet":
            self.conv1 = ComplexConv2d(in_chans, width, 7, 2, 3, bias=bias)
            self.maxpool = pool_layer(3, 2, 1)
        else:
            self.conv1 = ComplexConv2d(in_chans, width, 3, 1, 1, bias=bias)
            self.maxpool = nn.Identity()
        self.bn1 = norm_layer(width)
        self.act = act_layer()
        block_args = {"norm": norm, "act": act, "bias": bias, "share_act": share_act}
        in_planes = width
        for i, depth in enumerate(layers):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            out_planes = planes * block_cls.expansion
            downsample = None
            if stride != 1 or in_planes != out_planes:
                downsample = nn.Sequential(
                    ComplexConv2d(in_planes, out_planes, 1, stride, bias=bias), norm_layer(out_planes)
                )
            blocks = [block_cls(in_planes, planes, stride, downsample, **block_args)]
            blocks += [block_cls(out_planes, planes, **block_args) for _ in range(depth - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            in_planes = out_planes
        self.num_features = in_planes
        self.global_pool = ComplexAdaptiveAvgPool2d(1)
        self.head_drop = ComplexDropout(drop_rate)
        self.fc = ComplexConv2d(in_planes, num_classes, 1, bias=bias) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "ComplexResNet", self.in_chans)
        x = self.maxpool(self.act(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.global_pool(x))
        return x.flatten(1) if pre_logits else self.fc(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def no_weight_decay(self) -> set[str]:
        return _no_weight_decay(self)


VGG_CFGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class ComplexVGG(nn.Module):
    """Complex VGG: [3x3 conv -> BN -> act] stages with 2x2 max-pools, adaptive average pool to 7x7, flatten,
    and one 1x1 complex conv (512*7*7 -> K) as classifier, as in the official code (no hidden FC layers).

    Args:
        depth: VGG depth: 11, 13, 16 or 19.
        num_classes: classifier outputs; 0 leaves the classifier as Identity (pooled features).
        in_chans: complex input channels (3 for iHSV, 2 for V + iS, e^iH).
        bias: learn biases in the complex convolutions.
        norm: complex batch norm: "naive" (split, official) or "whitening".
        act: complex activation: "prelu" (split, official), "relu" (split) or "modrelu".
        pool: max-pool: "split" (real and imaginary parts apart, official) or "magnitude" (largest |z|).
        pool_size: side of the adaptive average pool before the classifier.
        drop_rate: dropout before the classifier.
    """

    def __init__(
        self,
        depth: int = 11,
        num_classes: int = 1000,
        in_chans: int = 3,
        bias: bool = False,
        norm: Norm = "naive",
        act: Act = "prelu",
        pool: Pool = "split",
        pool_size: int = 7,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        cfg = _choice(VGG_CFGS, depth, "depth", "ComplexVGG")
        norm_layer = _choice(NORMS, norm, "norm", "ComplexVGG")
        act_layer = _choice(ACTS, act, "act", "ComplexVGG")
        pool_layer = _choice(MAX_POOLS, pool, "pool", "ComplexVGG")
        self.in_chans = in_chans
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        channels = in_chans
        for v in cfg:
            if v == "M":
                layers.append(pool_layer(2, 2))
            else:
                layers += [ComplexConv2d(channels, int(v), 3, 1, 1, bias=bias), norm_layer(int(v)), act_layer()]
                channels = int(v)
        self.features = nn.Sequential(*layers)
        self.num_features = channels * pool_size * pool_size
        self.pool = ComplexAdaptiveAvgPool2d(pool_size)
        self.head_drop = ComplexDropout(drop_rate)
        self.classifier = (
            ComplexConv2d(self.num_features, num_classes, 1, bias=bias) if num_classes > 0 else nn.Identity()
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "ComplexVGG", self.in_chans)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.pool(x).flatten(1)[..., None, None])
        return x.flatten(1) if pre_logits else self.classifier(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def no_weight_decay(self) -> set[str]:
        return _no_weight_decay(self)


class ComplexConvNet(nn.Module):
    """Small plain complex conv net in the style of CDS-E (the official comparison with Co-Domain Symmetry nets):
    [conv -> (BN) -> act] per width, adaptive average pool to pool_size x pool_size, flatten, then a 1x1 complex conv
    classifier (with an optional hidden 1x1 layer). Defaults give the official 2-channel CDS_E (32,808 real scalars).

    Args:
        widths: channels of each conv layer.
        num_classes: classifier outputs; 0 leaves the classifier as Identity (pooled features).
        in_chans: complex input channels (3 for iHSV, 2 for V + iS, e^iH).
        kernel_size: side of every conv kernel.
        stride: stride of every conv, or one per layer.
        padding: zero padding of every conv.
        norm: complex batch norm after each conv: "none", "naive" (split) or "whitening".
        act: complex activation: "prelu" (split, official), "relu" (split) or "modrelu".
        bias: learn biases in the complex convolutions.
        pool_size: side of the adaptive average pool before the classifier.
        hidden: width of a hidden 1x1 conv layer before the classifier; 0 for none.
        drop_rate: dropout before the classifier.
    """

    def __init__(
        self,
        widths: Sequence[int] = (8, 16, 32, 32),
        num_classes: int = 10,
        in_chans: int = 2,
        kernel_size: int = 3,
        stride: int | Sequence[int] = 2,
        padding: int = 0,
        norm: Literal["none", "naive", "whitening"] = "none",
        act: Act = "prelu",
        bias: bool = False,
        pool_size: int = 2,
        hidden: int = 0,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        act_layer = _choice(ACTS, act, "act", "ComplexConvNet")
        norm_layer = None if norm == "none" else _choice(NORMS, norm, "norm", "ComplexConvNet")
        strides = [stride] * len(widths) if isinstance(stride, int) else list(stride)
        if not widths or len(strides) != len(widths):
            raise ValueError(f"ComplexConvNet stride={stride} must be an int or one value per width in {list(widths)}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        channels = in_chans
        for w, s in zip(widths, strides):
            layers.append(ComplexConv2d(channels, w, kernel_size, s, padding, bias=bias))
            if norm_layer is not None:
                layers.append(norm_layer(w))
            layers.append(act_layer())
            channels = w
        self.features = nn.Sequential(*layers)
        self.num_features = channels * pool_size * pool_size
        self.pool = ComplexAdaptiveAvgPool2d(pool_size)
        self.head_drop = ComplexDropout(drop_rate)
        if hidden > 0:
            head = [ComplexConv2d(self.num_features, hidden, 1, bias=bias), act_layer()]
            head.append(ComplexConv2d(hidden, num_classes, 1, bias=bias))
        else:
            head = [ComplexConv2d(self.num_features, num_classes, 1, bias=bias)]
        self.classifier = nn.Sequential(*head) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "ComplexConvNet", self.in_chans)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.pool(x).flatten(1)[..., None, None])
        return x.flatten(1) if pre_logits else self.classifier(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def no_weight_decay(self) -> set[str]:
        return _no_weight_decay(self)


def fccn_resnet18(**kwargs) -> ComplexResNet:
    return ComplexResNet(**{"block": "basic", "layers": (2, 2, 2, 2), **kwargs})


def fccn_resnet18_half(**kwargs) -> ComplexResNet:
    """The official half-width ResNet-18 (networks_new.py): stage widths 32/64/128/256."""
    return ComplexResNet(**{"block": "basic", "layers": (2, 2, 2, 2), "width": 32, **kwargs})


def fccn_resnet34(**kwargs) -> ComplexResNet:
    return ComplexResNet(**{"block": "basic", "layers": (3, 4, 6, 3), **kwargs})


def fccn_resnet50(**kwargs) -> ComplexResNet:
    return ComplexResNet(**{"block": "bottleneck", "layers": (3, 4, 6, 3), **kwargs})


def fccn_resnet101(**kwargs) -> ComplexResNet:
    return ComplexResNet(**{"block": "bottleneck", "layers": (3, 4, 23, 3), **kwargs})


def fccn_resnet152(**kwargs) -> ComplexResNet:
    return ComplexResNet(**{"block": "bottleneck", "layers": (3, 8, 36, 3), **kwargs})


def fccn_vgg11(**kwargs) -> ComplexVGG:
    return ComplexVGG(**{"depth": 11, **kwargs})


def fccn_vgg13(**kwargs) -> ComplexVGG:
    return ComplexVGG(**{"depth": 13, **kwargs})


def fccn_vgg16(**kwargs) -> ComplexVGG:
    return ComplexVGG(**{"depth": 16, **kwargs})


def fccn_vgg19(**kwargs) -> ComplexVGG:
    return ComplexVGG(**{"depth": 19, **kwargs})


def fccn_cds_e(**kwargs) -> ComplexConvNet:
    """The official root CDS_E: 2-channel input (rgb_to_ihsv(x, channels=2)), widths 8/16/32/32, stride 2."""
    return ComplexConvNet(**{"widths": (8, 16, 32, 32), "in_chans": 2, "stride": 2, "padding": 0, **kwargs})


PRESETS: dict[str, Callable[..., nn.Module]] = {
    "fccn_resnet18": fccn_resnet18,
    "fccn_resnet18_half": fccn_resnet18_half,
    "fccn_resnet34": fccn_resnet34,
    "fccn_resnet50": fccn_resnet50,
    "fccn_resnet101": fccn_resnet101,
    "fccn_resnet152": fccn_resnet152,
    "fccn_vgg11": fccn_vgg11,
    "fccn_vgg13": fccn_vgg13,
    "fccn_vgg16": fccn_vgg16,
    "fccn_vgg19": fccn_vgg19,
    "fccn_cds_e": fccn_cds_e,
}
