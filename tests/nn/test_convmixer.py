import pytest
import timm
import torch

from lit_vision.nn.convmixer import PRESETS, ConvMixer, convmixer_256_8


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["convmixer_1536_20", "convmixer_768_32", "convmixer_1024_20_ks9_p14"])
def test_preset_parameter_count_equals_timm(name):
    assert count(PRESETS[name]()) == count(timm.create_model(name, pretrained=False))


def test_design_table_parameter_counts():
    assert round(count(PRESETS["convmixer_768_32"]()) / 1e6, 3) == 21.110
    assert round(count(PRESETS["convmixer_1536_20"]()) / 1e6, 3) == 51.626


def test_cifar_preset_shapes():
    model = convmixer_256_8()
    x = torch.randn(2, 3, 32, 32)
    assert model.forward_features(x).shape == (2, 256, 16, 16)
    assert model(x).shape == (2, 10)
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 256)


def test_channels_last_gives_same_output():
    torch.manual_seed(0)
    model = ConvMixer(dim=32, depth=2, kernel_size=5, patch_size=2, num_classes=7).eval()
    x = torch.randn(3, 3, 16, 16)
    expected = model(x)
    model_cl = model.to(memory_format=torch.channels_last)
    actual = model_cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_image_not_divisible_by_patch_is_one_line_error():
    model = ConvMixer(dim=8, depth=1, kernel_size=3, patch_size=7, num_classes=2)
    with pytest.raises(
        ValueError, match=r"input size=30x30 is not divisible by patch_size=7x7; use a side of 28 or 35"
    ):
        model(torch.randn(1, 3, 30, 30))


def test_wrong_channels_is_one_line_error():
    model = ConvMixer(dim=8, depth=1, kernel_size=3, patch_size=2, in_chans=1, num_classes=2)
    with pytest.raises(ValueError, match=r"\(batch, 1, height, width\).*in_chans=1"):
        model(torch.randn(1, 3, 8, 8))


def test_unknown_activation_is_one_line_error():
    with pytest.raises(ValueError, match="act_layer='swish' is not supported"):
        ConvMixer(dim=8, depth=1, act_layer="swish")
