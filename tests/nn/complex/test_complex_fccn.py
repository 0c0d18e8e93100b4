import copy

import pytest
import torch

from lit_vision.nn.complex import (
    PRESETS,
    ComplexConvNet,
    ComplexResNet,
    FCCNLoss,
    fccn_cds_e,
    fccn_resnet18,
    fccn_resnet18_half,
    fccn_resnet50,
    fccn_resnet152,
    fccn_vgg11,
    rgb_to_ihsv,
)


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def images(batch: int, size: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return rgb_to_ihsv(torch.rand(batch, 3, size, size), channels=channels)


def test_parameter_counts_equal_official_code():
    assert count(fccn_resnet18(num_classes=10)) == 22_363_282  # root code, bias=False
    assert count(fccn_resnet50(num_classes=1000, bias=True)) == 51_167_218  # Imagenet/ code, bias=True
    assert count(fccn_resnet18_half(num_classes=10)) == 5_602_898
    assert count(fccn_cds_e()) == 32_808
    imagenet_cds_e = ComplexConvNet(widths=(16, 32, 64, 64), in_chans=3, hidden=128, bias=True)
    assert count(imagenet_cds_e) == 189_406
    assert round(count(fccn_vgg11(num_classes=10)) / 1e6, 2) == 18.95
    # the authors count complex parameters as numel // 2
    assert round(count(fccn_resnet152(bias=True)) / 2e6, 2) == 60.27


def test_resnet18_shapes_on_upsampled_cifar():
    model = fccn_resnet18(num_classes=10).eval()
    x = images(2, 56)
    feats = model.forward_features(x)
    assert feats.shape == (2, 512, 2, 2) and feats.dtype == torch.complex64
    assert model.forward_head(feats, pre_logits=True).shape == (2, 512)
    z = model(x)
    assert z.shape == (2, 10) and z.dtype == torch.complex64


def test_resnet18_imagenet_size_forward():
    model = fccn_resnet18().eval()
    with torch.no_grad():
        assert model.forward_features(images(1, 224)).shape == (1, 512, 7, 7)


def test_cifar_stem_vgg_and_cds_e_shapes():
    with torch.no_grad():
        assert fccn_resnet18(num_classes=10, stem="cifar").forward_features(images(1, 16)).shape == (1, 512, 2, 2)
        vgg = fccn_vgg11(num_classes=10)
        assert vgg.forward_features(images(1, 32)).shape == (1, 512, 1, 1)
        assert vgg(images(1, 32)).shape == (1, 10)
        assert fccn_cds_e()(images(2, 36, channels=2)).shape == (2, 10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"block": "basic", "norm": "whitening", "act": "modrelu", "pool": "magnitude"},
        {"block": "bottleneck", "share_act": False, "act": "relu", "bias": True, "drop_rate": 0.2},
        {"block": "bottleneck", "stem": "cifar"},
    ],
)
def test_gradients_reach_every_real_parameter(kwargs):
    torch.manual_seed(0)
    model = ComplexResNet(layers=(1, 1, 1, 1), width=8, num_classes=5, **kwargs)
    assert all(not p.is_complex() for p in model.parameters())
    out = FCCNLoss()(model(images(4, 16)), torch.tensor([0, 1, 2, 3]))
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    assert all(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "slope" not in n)


def test_block_shares_one_activation_like_the_official_code():
    model = fccn_resnet18()
    assert {n for n, _ in model.layer1[0].named_parameters() if "slope" in n} == {"act.slope_real", "act.slope_imag"}
    unshared = fccn_resnet18(share_act=False)
    assert {n.split(".")[0] for n, _ in unshared.layer1[0].named_parameters() if "slope" in n} == {"act1", "act2"}


def test_no_weight_decay_names_norms_biases_and_slopes():
    model = ComplexResNet(layers=(1, 1, 1, 1), width=8, num_classes=5, bias=True)
    names = model.no_weight_decay()
    assert {"bn1.bn_real.weight", "act.slope_imag", "fc.bias_real", "layer1.0.bn2.bn_imag.bias"} <= names
    assert not any("weight_real" in n or "weight_imag" in n for n in names)


def test_model_stays_complex64_under_bf16_autocast():
    torch.manual_seed(0)
    model = ComplexResNet(layers=(1, 1, 1, 1), width=8, num_classes=5).eval()
    x = images(2, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = model(x)
        loss = FCCNLoss()(z, torch.tensor([0, 1])).loss
    assert z.dtype == torch.complex64 and loss.dtype == torch.float32
    torch.testing.assert_close(z, model(x))


def test_state_dict_round_trip_and_deepcopy():
    model = ComplexResNet(layers=(1, 1, 1, 1), width=8, num_classes=5).eval()
    clone = ComplexResNet(layers=(1, 1, 1, 1), width=8, num_classes=5).eval()
    clone.load_state_dict(model.state_dict())
    x = images(2, 32)
    torch.testing.assert_close(clone(x), model(x))
    torch.testing.assert_close(copy.deepcopy(model)(x), model(x))


def test_presets_registry():
    assert set(PRESETS) >= {f"fccn_resnet{d}" for d in (18, 34, 50, 101, 152)} | {
        f"fccn_vgg{d}" for d in (11, 13, 16, 19)
    }
    assert "fccn_cds_e" in PRESETS


def test_input_errors_name_the_network_and_expected_input():
    with pytest.raises(
        TypeError, match=r"^ComplexResNet\(in_chans=3\) expects a complex64 tensor of shape \(B, 3, H, W\)"
    ):
        fccn_resnet18()(torch.rand(1, 3, 32, 32))
    with pytest.raises(
        ValueError, match=r"ComplexConvNet\(in_chans=2\) expects complex input of shape \(B, 2, H, W\), got 3"
    ):
        fccn_cds_e()(images(1, 36, channels=3))
    with pytest.raises(ValueError, match="rgb_to_ihsv"):
        fccn_cds_e()(images(1, 36, channels=3))
    with pytest.raises(ValueError, match=r"ComplexResNet norm='batch' is not supported"):
        ComplexResNet(norm="batch")
    with pytest.raises(ValueError, match="ComplexResNet layers"):
        ComplexResNet(layers=(2, 2, 2))
