"""The converter against a state dict written in the official FCCN key layout.

The small official-layout modules below reproduce the official layer semantics (4 real convolutions with two biased
nn.Conv2d, split BN with real_bn / imag_bn, CPReLU with real_prelu / imag_prelu shared within a block, split max-pool,
native global average pool, 1x1 complex-conv fc), so the converted network must give the same outputs.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lit_vision.interop.fccn_official import from_official, to_official
from lit_vision.nn.complex import ComplexVGG, fccn_resnet18, rgb_to_ihsv


class OfficialConv(nn.Module):
    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.conv_real = nn.Conv2d(cin, cout, k, stride, padding, bias=True)
        self.conv_imag = nn.Conv2d(cin, cout, k, stride, padding, bias=True)

    def forward(self, x):
        r, i = self.conv_real, self.conv_imag
        return torch.complex(r(x.real) - i(x.imag), r(x.imag) + i(x.real))


class OfficialBN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.real_bn, self.imag_bn = nn.BatchNorm2d(c), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.complex(self.real_bn(x.real), self.imag_bn(x.imag))


class OfficialCPReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.real_prelu, self.imag_prelu = nn.PReLU(), nn.PReLU()

    def forward(self, x):
        return torch.complex(self.real_prelu(x.real), self.imag_prelu(x.imag))


class OfficialBasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1, self.prelu = OfficialConv(cin, cout, 3, stride, 1), OfficialBN(cout), OfficialCPReLU()
        self.conv2, self.bn2 = OfficialConv(cout, cout, 3, 1, 1), OfficialBN(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(OfficialConv(cin, cout, 1, stride), OfficialBN(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))
        return self.prelu(out + identity)


class OfficialResNet18(nn.Module):
    """Official topology; `width` 64 is the official net, smaller widths keep the test fast."""

    def __init__(self, num_classes, width=64):
        super().__init__()
        self.conv1, self.bn1, self.prelu = OfficialConv(3, width, 7, 2, 3), OfficialBN(width), OfficialCPReLU()
        cin = width
        for i, cout in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stride = 1 if i == 0 else 2
            self.add_module(
                f"layer{i + 1}", nn.Sequential(OfficialBasicBlock(cin, cout, stride), OfficialBasicBlock(cout, cout, 1))
            )
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = OfficialConv(cin, num_classes, 1)

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = torch.complex(F.max_pool2d(x.real, 3, 2, 1), F.max_pool2d(x.imag, 3, 2, 1))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x)).flatten(1)


WIDTH = 16


@pytest.fixture(scope="module")
def official():
    torch.manual_seed(0)
    model = OfficialResNet18(num_classes=7, width=WIDTH)
    with torch.no_grad():  # non-trivial BN statistics, affine parameters and slopes
        for name, t in model.state_dict().items():
            if name.endswith(("running_var", "bn.weight")):
                t.uniform_(0.5, 2.0)
            elif name.endswith(("running_mean", "bn.bias")):
                t.uniform_(-0.5, 0.5)
            elif name.endswith("prelu.weight"):
                t.uniform_(0.0, 0.5)
    return model


def test_official_state_dict_loads_strictly_and_gives_equal_outputs(official):
    ours = fccn_resnet18(num_classes=7, bias=True, width=WIDTH)
    ours.load_state_dict(from_official(official.state_dict()), strict=True)
    torch.manual_seed(1)
    official.eval(), ours.eval()
    x = rgb_to_ihsv(torch.rand(2, 3, 32, 32))
    with torch.no_grad():
        ref, out = official(x), ours(x)
    assert (out - ref).abs().max() <= 1e-5 * ref.abs().max()
    # batch statistics: 64 px so that the last stage's BN sees more than two values per channel
    official.train(), ours.train()
    x = rgb_to_ihsv(torch.rand(2, 3, 64, 64))
    with torch.no_grad():
        ref, out = official(x), ours(x)
    assert (out - ref).abs().max() <= 1e-4 * ref.abs().max()
    converted = from_official(official.state_dict())
    for key, value in ours.state_dict().items():
        torch.testing.assert_close(value, converted[key], rtol=1e-4, atol=1e-5)


def test_round_trip_to_official_layout(official):
    sd = official.state_dict()
    back = to_official(from_official(sd))
    assert list(back) == list(sd)
    assert all(torch.equal(back[k], sd[k]) for k in sd)
    ours = fccn_resnet18(num_classes=7, bias=True, width=WIDTH).state_dict()
    assert set(to_official(ours)) == set(sd)
    full = {name for name, _ in OfficialResNet18(num_classes=10).named_parameters()}
    assert full <= set(to_official(fccn_resnet18(num_classes=10, bias=True).state_dict()))


def test_data_parallel_checkpoint_wrapper(official):
    checkpoint = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in official.state_dict().items()}}
    assert list(from_official(checkpoint)) == list(from_official(official.state_dict()))


def test_vgg_and_whitening_bn_keys():
    ours = ComplexVGG(depth=11, num_classes=3, norm="whitening").state_dict()
    official = to_official(ours)
    assert {"features.0.conv_real.weight", "features.1.Wrr", "features.1.Br", "features.1.RVri"} <= set(official)
    assert {"features.2.real_prelu.weight", "features.4.conv_imag.weight", "classifier.conv_real.weight"} <= set(
        official
    )
    assert "features.1.num_batches_tracked" in official
    back = from_official(official)
    assert list(back) == list(ours) and all(torch.equal(back[k], ours[k]) for k in ours)
